// Command worker runs promoflow's workflows and activities: it connects to
// Temporal and the bucket and polls the task queue until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/config"
	"github.com/promoflow/promoflow/internal/telemetry"
	"github.com/promoflow/promoflow/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	cfg := config.FromEnv(fs)
	metricsAddr := fs.String("metrics-listen", os.Getenv("PROMOFLOW_METRICS_LISTEN"), "serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 ($PROMOFLOW_METRICS_LISTEN)")
	fs.Parse(os.Args[1:])
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := blob.NewS3(ctx, cfg.Blob())
	if err != nil {
		return err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return err
	}
	opts, err := cfg.ClientOptions(tlog.NewStructuredLogger(logger))
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		m, err := telemetry.NewMetrics()
		if err != nil {
			return err
		}
		opts.MetricsHandler = m.Handler
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.HTTP)
		srv := &http.Server{Addr: *metricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
		logger.Info("metrics", "url", "http://"+*metricsAddr+"/metrics")
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("temporal %s: %w", cfg.TemporalAddress, err)
	}
	defer c.Close()
	w := workflows.NewWorker(c, cfg.TaskQueue, &activities.Activities{Store: store}, worker.Options{})
	logger.Info("worker started", "temporal", cfg.TemporalAddress, "namespace", cfg.Namespace,
		"task_queue", cfg.TaskQueue, "bucket", store.URL(""))
	return w.Run(worker.InterruptCh())
}
