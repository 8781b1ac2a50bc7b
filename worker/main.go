// Command worker runs promoflow's workflows and activities: it connects to
// Temporal and the bucket and polls the task queue until interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/config"
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
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("temporal %s: %w", cfg.TemporalAddress, err)
	}
	defer c.Close()
	w := worker.New(c, cfg.TaskQueue, worker.Options{})
	workflows.Register(w, &activities.Activities{Store: store})
	logger.Info("worker started", "temporal", cfg.TemporalAddress, "namespace", cfg.Namespace,
		"task_queue", cfg.TaskQueue, "bucket", store.URL(""))
	return w.Run(worker.InterruptCh())
}
