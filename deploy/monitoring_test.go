package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/promoflow/promoflow/internal/telemetry"
)

var metricName = regexp.MustCompile(`temporal_[a-z_]+`)

// TestMonitoring checks the Prometheus configuration, the alerts and the
// Grafana dashboard against the code: they scrape the pods and port the
// manifests declare, and read only metrics a worker exports
// (telemetry.Dashboard, which a telemetry test checks on a running
// worker), every one of which they use.
func TestMonitoring(t *testing.T) {
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName        string `yaml:"job_name"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				Regex        string   `yaml:"regex"`
				Action       string   `yaml:"action"`
			} `yaml:"relabel_configs"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	if !slices.Equal(prom.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("rule files %v, want [alerts.yml]", prom.RuleFiles)
	}
	manifest, err := os.ReadFile("k8s/worker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var keepsApp, compose bool
	for _, sc := range prom.ScrapeConfigs {
		for _, rc := range sc.RelabelConfigs {
			if slices.Equal(rc.SourceLabels, []string{"__meta_kubernetes_pod_label_app"}) && rc.Action == "keep" {
				keepsApp = strings.Contains(string(manifest), "app: "+rc.Regex)
			}
		}
		for _, st := range sc.StaticConfigs {
			compose = compose || slices.Contains(st.Targets, "worker:9464")
		}
	}
	if !keepsApp {
		t.Error("prometheus.yml does not keep the pods labelled as deploy/k8s/worker.yaml labels the worker")
	}
	if !compose || !strings.Contains(string(manifest), `prometheus.io/port: "9464"`) {
		t.Error("the compose target worker:9464 or the manifest's prometheus.io/port 9464 is missing")
	}

	var alerts struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &alerts)
	var exprs []string
	for _, g := range alerts.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("alert %q without a name or expression", r.Alert)
			}
			exprs = append(exprs, r.Expr)
		}
	}

	data, err := os.ReadFile("grafana/promoflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("grafana/promoflow.json: %v", err)
	}
	if len(dash.Panels) < 5 {
		t.Errorf("%d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			used[name] = true
			if !slices.Contains(telemetry.Dashboard, name) {
				t.Errorf("%s is read by the dashboard or the alerts but not in telemetry.Dashboard (exported and tested)", name)
			}
		}
	}
	for _, name := range telemetry.Dashboard {
		if !used[name] {
			t.Errorf("telemetry.Dashboard lists %s, which no panel or alert reads", name)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
