package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/testenv"
)

func TestHealthHandlers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		path     string
		polling  bool
		checkErr error
		code     int
		body     string
	}{
		{"alive while starting", "/healthz", false, errors.New("unreachable"), 200, "ok"},
		{"not ready before polling", "/readyz", false, nil, 503, "not polling its task queue"},
		{"ready", "/readyz", true, nil, 200, "ready"},
		{"not ready without Temporal", "/readyz", true, errors.New("connection refused"), 503, "Temporal health check: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &health{timeout: time.Second, check: func(context.Context) error { return tc.checkErr }}
			h.polling.Store(tc.polling)
			mux := http.NewServeMux()
			h.register(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("GET %s: %d %q, want %d with %q", tc.path, rec.Code, rec.Body.String(), tc.code, tc.body)
			}
		})
	}
}

// TestWorkerProbes runs the worker command with a metrics listener on a
// free port and checks its probes: /healthz and /readyz answer 200 once
// it polls, /metrics has the SDK's metrics, and on SIGTERM it logs its stop
// with the configured stop timeout and exits 0.
func TestWorkerProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and the worker command")
	}
	stack := testenv.Start(t)
	dir := t.TempDir()
	bin := buildWorker(t, dir)
	cmd := exec.Command(bin, "--metrics-listen", "127.0.0.1:0")
	cmd.Env = append(stack.Env(), "HOME="+dir, "PATH="+os.Getenv("PATH"), "PROMOFLOW_TASK_QUEUE=probes", "PROMOFLOW_WORKER_STOP_TIMEOUT=7s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
	}()
	next := func(msg string) map[string]any {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("worker exited before logging %q", msg)
				}
				if l["msg"] == msg {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q line in 60 s", msg)
			}
		}
	}
	base := strings.TrimSuffix(next("metrics")["url"].(string), "/metrics")
	if l := next("worker started"); l["stop_timeout"] != "7s" {
		t.Errorf("stop_timeout %v, want 7s from PROMOFLOW_WORKER_STOP_TIMEOUT", l["stop_timeout"])
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct{ path, body string }{
		{"/healthz", "ok"}, {"/readyz", "ready"}, {"/metrics", "temporal_"},
	} {
		if code, body := get(tc.path); code != 200 || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s: %d %.200q, want 200 with %q", tc.path, code, body, tc.body)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if l := next("worker stopping"); l["stop_timeout"] != "7s" {
		t.Errorf("stopping line %v", l)
	}
	next("worker stopped")
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("worker exit after SIGTERM: %v", err)
	}
}

// buildWorker builds the worker command into dir.
func buildWorker(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "worker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build worker: %v\n%s", err, out)
	}
	return bin
}
