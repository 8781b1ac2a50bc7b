// Package telemetry exports the Temporal SDK's metrics (task latencies,
// activity failures, poller counts, ...) for Prometheus to scrape.
package telemetry

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/opentelemetry"
)

// Metrics is a Temporal metrics handler backed by its own Prometheus
// registry, and the HTTP handler that serves that registry.
type Metrics struct {
	Handler client.MetricsHandler // pass as client.Options.MetricsHandler
	HTTP    http.Handler          // serve at /metrics
}

// NewMetrics returns metrics with Go runtime and process collectors and
// everything the Temporal SDK records through Handler.
func NewMetrics() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	handler := opentelemetry.NewMetricsHandler(opentelemetry.MetricsHandlerOptions{Meter: provider.Meter("promoflow")})
	return &Metrics{Handler: handler, HTTP: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, nil
}

// Dashboard are the metrics, as Prometheus names them, that the Grafana
// dashboard (deploy/grafana/promoflow.json) and the alerts read: what the
// Temporal SDK records for every activity and workflow, labelled with
// activity_type or workflow_type and task_queue. Failure counters appear
// once something has failed. A test runs a worker on a dev server and
// checks that each is exported; another that the dashboard reads no other.
var Dashboard = []string{
	"temporal_activity_execution_latency_seconds_bucket", // time per activity type: where a stage's time goes
	"temporal_activity_execution_latency_seconds_sum",
	"temporal_activity_execution_failed",                         // failed attempts per activity type
	"temporal_activity_schedule_to_start_latency_seconds_bucket", // waiting for a free worker slot: too few workers
	"temporal_workflow_endtoend_latency_seconds_bucket",          // run durations per workflow type
	"temporal_workflow_completed",
	"temporal_workflow_failed",
	"temporal_workflow_task_schedule_to_start_latency_seconds_bucket", // workflow task backlog
	"temporal_worker_task_slots_used",
	"temporal_worker_task_slots_available",
}
