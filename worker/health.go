package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// health answers the orchestrator's probes on the worker's metrics
// listener. /healthz (liveness) is 200 while the process serves HTTP: a
// worker waiting on Temporal or the bucket is not helped by a restart.
// /readyz (readiness) is 200 only while the worker polls its task queue
// and Temporal answers a health check; it turns 503 as soon as the worker
// is told to stop, while its running activities finish.
type health struct {
	polling atomic.Bool
	// check asks Temporal's frontend whether it serves (client.CheckHealth).
	check func(context.Context) error
	// timeout bounds one check; a probe's own timeout is usually 1 s to
	// a few seconds.
	timeout time.Duration
}

// register adds the probes' paths to mux.
func (h *health) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", h.ready)
}

func (h *health) ready(w http.ResponseWriter, r *http.Request) {
	if !h.polling.Load() {
		http.Error(w, "not ready: the worker is not polling its task queue (starting or stopping)", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	if err := h.check(ctx); err != nil {
		http.Error(w, "not ready: Temporal health check: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
