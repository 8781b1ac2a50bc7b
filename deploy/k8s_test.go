package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestKubernetesManifests parses deploy/k8s/worker.yaml and checks the parts
// operators rely on: requests set, autoscaler bound to the deployment, no
// secret values inline.
func TestKubernetesManifests(t *testing.T) {
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
	for _, k := range []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler"} {
		if kinds[k] == nil {
			t.Fatalf("no %s in worker.yaml", k)
		}
	}
	dig := func(v any, path ...any) any {
		for _, p := range path {
			switch key := p.(type) {
			case string:
				v = v.(map[string]any)[key]
			case int:
				v = v.([]any)[key]
			}
		}
		return v
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
