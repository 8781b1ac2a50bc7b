package deploy_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"testing"

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
	for _, e := range dig(c, "env").([]any) {
		if e.(map[string]any)["value"] != nil {
			t.Errorf("inline env value %v: secrets must come from secretKeyRef", e)
		}
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
