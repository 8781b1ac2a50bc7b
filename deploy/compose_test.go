// Package deploy_test checks the deployment files against the code: the
// compose file is loaded with compose-go, the loader docker compose uses.
package deploy_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/testenv"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join("..", "docker-compose.yml")},
		cli.WithName("promoflow"), cli.WithWorkingDirectory(".."), cli.WithEnv([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return p
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	want := []string{"namespace", "postgresql", "s3", "setup", "temporal", "temporal-schema", "temporal-ui", "worker"}
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("services %v, want %v (the starter is behind the cli profile)", got, want)
	}
	for _, img := range []struct{ service, prefix string }{
		{"temporal", "temporalio/server:"}, {"temporal-schema", "temporalio/admin-tools:"},
		{"temporal-ui", "temporalio/ui:"}, {"s3", "versity/versitygw:"}, {"postgresql", "postgres:"},
	} {
		s := p.Services[img.service]
		if !strings.HasPrefix(s.Image, img.prefix) {
			t.Errorf("%s image %q, want %s...", img.service, s.Image, img.prefix)
		}
		if strings.Contains(s.Image, "auto-setup") || strings.Contains(strings.ToLower(s.Image), "minio") {
			t.Errorf("%s uses %s", img.service, s.Image)
		}
	}
	ports := map[string]uint32{"temporal": 7233, "temporal-ui": 8233, "s3": 7070}
	for svc, port := range ports {
		found := false
		for _, pc := range p.Services[svc].Ports {
			if pc.Published == itoa(port) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s does not publish %d", svc, port)
		}
	}
	deps := map[string][]string{
		"temporal-schema": {"postgresql"}, "temporal": {"temporal-schema"}, "temporal-ui": {"temporal"},
		"setup": {"namespace", "s3", "temporal"}, "worker": {"setup"},
	}
	for svc, want := range deps {
		var got []string
		for d := range p.Services[svc].DependsOn {
			got = append(got, d)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s depends on %v, want %v", svc, got, want)
		}
	}
	if w := p.Services["worker"]; w.Deploy == nil || w.Deploy.Replicas == nil || *w.Deploy.Replicas < 2 {
		t.Errorf("worker is not scaled to several replicas")
	}
}

// TestWorkerEnvironment checks that every PROMOFLOW_* variable the worker
// service sets is one the worker reads, and that it sets the ones that
// locate Temporal and the bucket.
func TestWorkerEnvironment(t *testing.T) {
	p := loadCompose(t)
	read := map[string]bool{}
	var cfg config.Config
	cfg.Register(flag.NewFlagSet("worker", flag.ContinueOnError), func(name string) string {
		read[name] = true
		return ""
	})
	env := p.Services["worker"].Environment
	for name := range env {
		if (strings.HasPrefix(name, "PROMOFLOW_") || strings.HasPrefix(name, "AWS_")) && !read[name] {
			t.Errorf("worker service sets %s, which the worker does not read", name)
		}
	}
	for _, name := range []string{"PROMOFLOW_TEMPORAL_ADDRESS", "PROMOFLOW_NAMESPACE", "PROMOFLOW_TASK_QUEUE",
		"PROMOFLOW_S3_ENDPOINT", "PROMOFLOW_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if v := env[name]; v == nil || *v == "" {
			t.Errorf("worker service does not set %s", name)
		}
	}
	if v := env["PROMOFLOW_TEMPORAL_ADDRESS"]; v == nil || !strings.HasPrefix(*v, "temporal:") {
		t.Errorf("worker reaches Temporal at %v, want the temporal service", v)
	}
	if v := env["PROMOFLOW_S3_ENDPOINT"]; v == nil || !strings.Contains(*v, "//s3:") {
		t.Errorf("worker reaches S3 at %v, want the s3 service", v)
	}
}

func itoa(n uint32) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// TestTemporalDynamicConfig keeps the compose server's dynamic
// configuration (deploy/temporal/dynamicconfig.yaml, mounted and named by
// DYNAMIC_CONFIG_FILE_PATH) the same as the dev server's.
func TestTemporalDynamicConfig(t *testing.T) {
	s := loadCompose(t).Services["temporal"]
	path := s.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	if path == nil {
		t.Fatal("temporal: no DYNAMIC_CONFIG_FILE_PATH")
	}
	mounted := false
	for _, v := range s.Volumes {
		if v.Target == "/etc/temporal/"+*path && strings.HasSuffix(v.Source, filepath.Join("deploy", "temporal", "dynamicconfig.yaml")) {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("temporal: deploy/temporal/dynamicconfig.yaml is not mounted at /etc/temporal/%s (volumes %v)", *path, s.Volumes)
	}
	b, err := os.ReadFile(filepath.Join("temporal", "dynamicconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dc map[string][]struct {
		Value       any            `yaml:"value"`
		Constraints map[string]any `yaml:"constraints"`
	}
	if err := yaml.Unmarshal(b, &dc); err != nil {
		t.Fatalf("dynamicconfig.yaml: %v", err)
	}
	var got []string
	for key, vs := range dc {
		if len(vs) != 1 || len(vs[0].Constraints) != 0 {
			t.Errorf("%s: want one value without constraints, got %v", key, vs)
			continue
		}
		got = append(got, fmt.Sprintf("%s=%v", key, vs[0].Value))
	}
	want := slices.Clone(testenv.DynamicConfig)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("dynamicconfig.yaml sets %v, the dev server %v", got, want)
	}
}

// TestComposeWorkerOperations checks that the compose worker serves
// metrics and probes and stops gracefully: its stop timeout inside the
// stop grace period (docker's default, 10 s, would cut activities short).
func TestComposeWorkerOperations(t *testing.T) {
	w := loadCompose(t).Services["worker"]
	args := map[string]string{}
	for _, a := range w.Command {
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		args[k] = v
	}
	if _, port, err := net.SplitHostPort(args["metrics-listen"]); err != nil || !slices.Contains(w.Expose, port) {
		t.Errorf("worker command %q: want --metrics-listen=:PORT with PORT exposed (%v)", w.Command, w.Expose)
	}
	stop, err := time.ParseDuration(args["stop-timeout"])
	if err != nil || w.StopGracePeriod == nil || stop <= 0 || time.Duration(*w.StopGracePeriod) <= stop {
		t.Errorf("worker --stop-timeout %q, stop_grace_period %v: want a stop timeout under the grace period", args["stop-timeout"], w.StopGracePeriod)
	}
}

// TestDockerignore checks the image build context: the embedded stack's
// data and the tools stay out, .git stays in (go build stamps the commit
// from it).
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignored := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignored[strings.Trim(line, "/")] = true
		}
	}
	for _, dir := range []string{".promoflow", "bin"} {
		if !ignored[dir] {
			t.Errorf(".dockerignore does not exclude %s/", dir)
		}
	}
	for _, keep := range []string{".git", "go.mod", "go.sum", "*", "**"} {
		if ignored[keep] {
			t.Errorf(".dockerignore excludes %s, which the build needs", keep)
		}
	}
}

// TestS3PosixFlags: the compose S3 service runs versitygw's posix backend
// with the flags the tests' and make up's gateways use.
func TestS3PosixFlags(t *testing.T) {
	cmd := []string(loadCompose(t).Services["s3"].Command)
	i := slices.Index(cmd, "posix")
	if i < 0 || len(cmd) < i+2+len(testenv.S3PosixFlags) {
		t.Fatalf("s3 command %q: no posix backend with a folder", cmd)
	}
	if got := cmd[i+1 : len(cmd)-1]; !slices.Equal(got, testenv.S3PosixFlags) {
		t.Errorf("s3 posix flags %q, testenv.S3PosixFlags %q", got, testenv.S3PosixFlags)
	}
}
