// Command worker runs promoflow's workflows and activities: it connects to
// Temporal and the bucket and polls the task queue until interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
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
	metricsAddr := fs.String("metrics-listen", os.Getenv("PROMOFLOW_METRICS_LISTEN"), "serve Prometheus metrics (/metrics) and the liveness and readiness probes (/healthz, /readyz) on this address, e.g. :9464 ($PROMOFLOW_METRICS_LISTEN)")
	defStop, err := envDuration("PROMOFLOW_WORKER_STOP_TIMEOUT", defaultStopTimeout)
	if err != nil {
		return err
	}
	stopTimeout := fs.Duration("stop-timeout", defStop, "on SIGTERM or SIGINT, how long running activities may go on before they are cancelled; keep it under the orchestrator's grace period ($PROMOFLOW_WORKER_STOP_TIMEOUT)")
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
	defSpill, err := envInt("PROMOFLOW_EVENTS_SPILL_MIB")
	if err != nil {
		return err
	}
	eventsSpill := fs.Int("events-spill-mib", defSpill, "MiB of shards' events spilled to the local disk (the OS temporary folder) when they do not fit in events-cache-mib; 0 means 8192, negative none ($PROMOFLOW_EVENTS_SPILL_MIB)")
	defStaged, err := envInt("PROMOFLOW_STAGED_CACHE_MIB")
	if err != nil {
		return err
	}
	stagedCache := fs.Int("staged-cache-mib", defStaged, "MiB of staged ingest objects kept on the local disk (the OS temporary folder) from a split to its finalizers on this worker; 0 means 8192, negative none ($PROMOFLOW_STAGED_CACHE_MIB)")
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
	var c client.Client
	probes := &health{timeout: 3 * time.Second, check: func(ctx context.Context) error {
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}
	if *metricsAddr != "" {
		m, err := telemetry.NewMetrics()
		if err != nil {
			return err
		}
		opts.MetricsHandler = m.Handler
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.HTTP)
		probes.register(mux)
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
		logger.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	c, err = client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("temporal %s: %w", cfg.TemporalAddress, err)
	}
	defer c.Close()
	w := workflows.NewWorker(c, cfg.TaskQueue, &activities.Activities{Store: store,
		ScoredCacheBytes: int64(*scoredCache) << 20, EventsCacheBytes: int64(*eventsCache) << 20,
		EventsSpillBytes: int64(*eventsSpill) << 20, StagedCacheBytes: int64(*stagedCache) << 20},
		worker.Options{MaxConcurrentActivityExecutionSize: *slots, WorkerStopTimeout: *stopTimeout})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	probes.polling.Store(true)
	logger.Info("worker started", "version", buildinfo.String(), "temporal", cfg.TemporalAddress, "namespace", cfg.Namespace,
		"task_queue", cfg.TaskQueue, "bucket", store.URL(""), "activities", *slots, "stop_timeout", stopTimeout.String())
	<-ctx.Done()
	stop() // a second SIGINT or SIGTERM ends the process at once
	// Not ready from here on; Stop waits up to the stop timeout for the
	// running activities, then cancels them (Temporal retries them
	// elsewhere) and returns.
	probes.polling.Store(false)
	logger.Info("worker stopping", "stop_timeout", stopTimeout.String())
	began := time.Now()
	w.Stop()
	logger.Info("worker stopped", "seconds", time.Since(began).Seconds())
	return nil
}

// defaultStopTimeout is how long a stopping worker lets its running
// activities go on: a shard activity takes seconds to a minute or so, and
// Kubernetes' default grace period is 30 s (deploy/k8s/worker.yaml gives
// 60 s and sets 45 s).
const defaultStopTimeout = 25 * time.Second

// envDuration reads a duration environment variable (time.ParseDuration);
// unset is def.
func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s=%q: want a non-negative duration such as 45s", name, v)
	}
	return d, nil
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
