package deploy_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/promoflow/promoflow/internal/config"
)

// loadK8s parses deploy/k8s/worker.yaml into its documents by kind.
func loadK8s(t *testing.T) map[string]map[string]any {
	t.Helper()
	data, err := os.ReadFile("k8s/worker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		kinds[doc["kind"].(string)] = doc
	}
	return kinds
}

// dig walks v by map keys (string) and list indexes (int); nil when a step
// is missing.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch key := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[key]
		case int:
			l, ok := v.([]any)
			if !ok || key >= len(l) {
				return nil
			}
			v = l[key]
		}
	}
	return v
}

// TestKubernetesManifests parses deploy/k8s/worker.yaml and checks the parts
// operators rely on: requests set, autoscaler bound to the deployment, no
// secret values inline.
func TestKubernetesManifests(t *testing.T) {
	kinds := loadK8s(t)
	for _, k := range []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler"} {
		if kinds[k] == nil {
			t.Fatalf("no %s in worker.yaml", k)
		}
	}
	c := dig(kinds["Deployment"], "spec", "template", "spec", "containers", 0)
	if dig(c, "resources", "requests", "cpu") == nil || dig(c, "resources", "requests", "memory") == nil {
		t.Error("worker container has no resource requests")
	}
	if dig(kinds["HorizontalPodAutoscaler"], "spec", "scaleTargetRef", "name") != dig(kinds["Deployment"], "metadata", "name") {
		t.Error("autoscaler does not target the worker deployment")
	}
	memLimit := false
	for _, e := range dig(c, "env").([]any) {
		if e.(map[string]any)["value"] != nil {
			t.Errorf("inline env value %v: secrets must come from secretKeyRef", e)
		}
		if dig(e, "name") == "GOMEMLIMIT" && dig(e, "valueFrom", "resourceFieldRef", "resource") == "requests.memory" {
			memLimit = true
		}
	}
	if !memLimit {
		t.Error("GOMEMLIMIT is not set from the container's memory request")
	}
	// The worker's disk caches must fit the scratch emptyDir beside
	// ingest's local files: their flags' sum at most three quarters of it.
	var cacheMiB int
	for _, a := range dig(c, "args").([]any) {
		for _, flag := range []string{"--events-spill-mib=", "--staged-cache-mib="} {
			if v, ok := strings.CutPrefix(a.(string), flag); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n <= 0 {
					t.Errorf("%s%s: want a positive MiB count", flag, v)
				}
				cacheMiB += n
			}
		}
	}
	size, _ := dig(kinds["Deployment"], "spec", "template", "spec", "volumes", 0, "emptyDir", "sizeLimit").(string)
	gi, err := strconv.Atoi(strings.TrimSuffix(size, "Gi"))
	if err != nil || !strings.HasSuffix(size, "Gi") {
		t.Fatalf("scratch emptyDir sizeLimit %q, want <n>Gi", size)
	}
	if cacheMiB == 0 || cacheMiB > gi*1024*3/4 {
		t.Errorf("disk caches %d MiB in a %s scratch folder: set both flags, their sum at most three quarters of it", cacheMiB, size)
	}
}

// TestKubernetesWorkerEnvironment loads the ConfigMap the worker takes its
// environment from into the worker's configuration, as the pod would, and
// checks where it goes: AWS S3's own endpoint (no loopback development
// keys), the bucket and region named, Temporal over TLS.
func TestKubernetesWorkerEnvironment(t *testing.T) {
	kinds := loadK8s(t)
	data, ok := dig(kinds["ConfigMap"], "data").(map[string]any)
	if !ok {
		t.Fatal("ConfigMap has no data")
	}
	env := map[string]string{}
	for k, v := range data {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("ConfigMap %s = %v (%T): Kubernetes wants strings", k, v, v)
		}
		env[k] = s
	}
	read := map[string]bool{}
	var cfg config.Config
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	cfg.Register(fs, func(name string) string {
		read[name] = true
		return env[name]
	})
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	for name := range env {
		if !read[name] {
			t.Errorf("ConfigMap sets %s, which the configuration does not read", name)
		}
	}
	b := cfg.Blob()
	for _, c := range []struct{ name, got, want string }{
		{"S3 endpoint (AWS's own)", b.Endpoint, ""},
		{"access key (AWS default chain)", b.AccessKey, ""},
		{"bucket", b.Bucket, env["PROMOFLOW_BUCKET"]},
		{"region", b.Region, env["PROMOFLOW_S3_REGION"]},
		{"temporal address", cfg.TemporalAddress, env["PROMOFLOW_TEMPORAL_ADDRESS"]},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if b.PathStyle {
		t.Error("path-style addressing on for AWS S3")
	}
	if !cfg.TLS {
		t.Error("TLS to Temporal off")
	}
}

// TestKubernetesWorkerOperations checks what keeps the worker running
// well under Kubernetes: the metrics listener on, scraped, and serving
// the probes; a stop timeout inside the grace period; a non-root
// container on a read-only root with an emptyDir for scratch; a
// disruption budget over the worker's pods; a pinned image.
func TestKubernetesWorkerOperations(t *testing.T) {
	kinds := loadK8s(t)
	dep := kinds["Deployment"]
	pod := dig(dep, "spec", "template")
	c := dig(pod, "spec", "containers", 0)
	args := map[string]string{}
	for _, a := range dig(c, "args").([]any) {
		k, v, _ := strings.Cut(strings.TrimLeft(a.(string), "-"), "=")
		args[k] = v
	}
	_, port, err := net.SplitHostPort(args["metrics-listen"])
	if err != nil {
		t.Fatalf("worker args %v: no --metrics-listen host:port: %v", args, err)
	}
	if got := dig(pod, "metadata", "annotations", "prometheus.io/scrape"); got != "true" {
		t.Errorf("prometheus.io/scrape = %v, want \"true\"", got)
	}
	if got := dig(pod, "metadata", "annotations", "prometheus.io/port"); got != port {
		t.Errorf("prometheus.io/port = %v, want the metrics listener's %s", got, port)
	}
	var portName string
	for _, p := range dig(c, "ports").([]any) {
		if fmt.Sprint(dig(p, "containerPort")) == port {
			portName, _ = dig(p, "name").(string)
		}
	}
	for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		got := dig(c, probe, "httpGet")
		if dig(got, "path") != path || (dig(got, "port") != portName && fmt.Sprint(dig(got, "port")) != port) {
			t.Errorf("%s = %v, want GET %s on the metrics port %s (%s)", probe, got, path, port, portName)
		}
	}

	stop, err := time.ParseDuration(args["stop-timeout"])
	if err != nil {
		t.Errorf("worker args %v: --stop-timeout: %v", args, err)
	}
	grace, _ := dig(pod, "spec", "terminationGracePeriodSeconds").(int)
	if stop <= 0 || time.Duration(grace)*time.Second < stop+10*time.Second {
		t.Errorf("stop timeout %v, grace period %d s: the grace period must exceed the stop timeout by 10 s or more", stop, grace)
	}

	for _, want := range []struct {
		path []any
		val  any
	}{
		{[]any{"spec", "securityContext", "runAsNonRoot"}, true},
		{[]any{"spec", "containers", 0, "securityContext", "readOnlyRootFilesystem"}, true},
		{[]any{"spec", "containers", 0, "securityContext", "allowPrivilegeEscalation"}, false},
		{[]any{"spec", "containers", 0, "securityContext", "capabilities", "drop", 0}, "ALL"},
	} {
		if got := dig(pod, want.path...); got != want.val {
			t.Errorf("pod %v = %v, want %v", want.path, got, want.val)
		}
	}
	tmp := ""
	for _, m := range dig(c, "volumeMounts").([]any) {
		if dig(m, "mountPath") == "/tmp" {
			tmp, _ = dig(m, "name").(string)
		}
	}
	found := false
	for _, v := range dig(pod, "spec", "volumes").([]any) {
		if dig(v, "name") == tmp && dig(v, "emptyDir") != nil {
			found = true
		}
	}
	if tmp == "" || !found {
		t.Error("no emptyDir mounted on /tmp for scratch files (the root file system is read-only)")
	}

	pdb := kinds["PodDisruptionBudget"]
	if pdb == nil {
		t.Fatal("no PodDisruptionBudget")
	}
	labels := dig(pod, "metadata", "labels").(map[string]any)
	sel := dig(pdb, "spec", "selector", "matchLabels").(map[string]any)
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("disruption budget selects %s=%v, which the worker's pods do not carry", k, v)
		}
	}
	if dig(pdb, "spec", "minAvailable") == nil && dig(pdb, "spec", "maxUnavailable") == nil {
		t.Error("disruption budget sets neither minAvailable nor maxUnavailable")
	}

	image, _ := dig(c, "image").(string)
	name, tag, _ := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
	if !strings.Contains(image, "@sha256:") && (tag == "" || tag == "latest") {
		t.Errorf("image %q (%s): pin a release tag or digest, not latest", image, name)
	}
}
