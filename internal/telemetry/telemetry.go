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
