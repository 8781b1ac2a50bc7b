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
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/buildinfo"
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
	cpuProfile := fs.String("cpu-profile", os.Getenv("PROMOFLOW_CPU_PROFILE"), "write a CPU profile of the worker's life to this file, samples labelled by stage ($PROMOFLOW_CPU_PROFILE)")
	defSlots, err := envInt("PROMOFLOW_WORKER_ACTIVITIES")
	if err != nil {
		return err
	}
	if defSlots == 0 {
		defSlots = defaultSlots()
	}
	slots := fs.Int("activities", defSlots, "activities run at once by this worker ($PROMOFLOW_WORKER_ACTIVITIES; default 2 per core)")
	defCache, err := envInt("PROMOFLOW_SCORED_CACHE_MIB")
	if err != nil {
		return err
	}
	scoredCache := fs.Int("scored-cache-mib", defCache, "MiB of decoded scored shards kept for the decide stage's rounds; 0 means 256 ($PROMOFLOW_SCORED_CACHE_MIB)")
	defEvents, err := envInt("PROMOFLOW_EVENTS_CACHE_MIB")
	if err != nil {
		return err
	}
	eventsCache := fs.Int("events-cache-mib", defEvents, "MiB of shards' events kept from the features stage's Profile to its Features pass; 0 means 256 ($PROMOFLOW_EVENTS_CACHE_MIB)")
	version := fs.Bool("version", false, "print the worker's version and commit and exit")
	fs.Parse(os.Args[1:])
	if *version {
		fmt.Println("worker", buildinfo.String())
		return nil
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		// Written when the worker stops on SIGINT or SIGTERM.
		defer f.Close()
		defer pprof.StopCPUProfile()
	}

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
	w := workflows.NewWorker(c, cfg.TaskQueue, &activities.Activities{Store: store,
		ScoredCacheBytes: int64(*scoredCache) << 20, EventsCacheBytes: int64(*eventsCache) << 20}, worker.Options{MaxConcurrentActivityExecutionSize: *slots})
	logger.Info("worker started", "version", buildinfo.String(), "temporal", cfg.TemporalAddress, "namespace", cfg.Namespace,
		"task_queue", cfg.TaskQueue, "bucket", store.URL(""), "activities", *slots)
	return w.Run(worker.InterruptCh())
}

// defaultSlots is how many activities a worker runs at once unless told:
// two per core keeps every core busy while an activity waits on the
// bucket, and bounds the worker's memory by a few shards' worth whatever
// the number of shards (a shard activity's memory grows with its users;
// docs/PERFORMANCE.md, "Sizing shards").
func defaultSlots() int { return 2 * runtime.GOMAXPROCS(0) }

// envInt reads an integer environment variable; unset is 0.
func envInt(name string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}
