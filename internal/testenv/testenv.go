// Package testenv starts real, throw-away backing services for integration
// tests: a Temporal dev server (bin/temporal) and an S3 gateway
// (bin/versitygw, posix backend). Each server listens on free loopback ports,
// keeps its data and log in the test's t.TempDir(), and is killed (whole
// process group) by t.Cleanup, so nothing outlives the test.
//
// The binaries are looked up in BinDir(): $PROMOFLOW_BIN_DIR, or the bin/
// folder next to the module's go.mod, where `make tools` builds them.
//
// Environment knobs (all optional):
//
//	PROMOFLOW_BIN_DIR   folder holding temporal and versitygw
//	PROMOFLOW_TEST_UI=1 serve the Temporal Web UI at Stack.UIURL (default: --headless)
package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/promoflow/promoflow/internal/blob"
)

// StartTimeout bounds how long a server may take to become ready.
var StartTimeout = 60 * time.Second

const (
	temporalBin = "temporal"
	s3Bin       = "versitygw"
	maxAttempts = 3 // a start is retried on a port clash ("address already in use")
)

// Stack is a Temporal dev server and an S3 gateway started for one test, on
// free loopback ports, with their own data folders.
type Stack struct {
	TemporalAddr string // frontend gRPC host:port, e.g. 127.0.0.1:41234
	Namespace    string // always "default" (created by the dev server)
	// UIURL is a well-formed Web UI base URL (http://127.0.0.1:PORT) for code
	// that builds links. The UI is only served there when PROMOFLOW_TEST_UI=1;
	// by default the dev server runs --headless.
	UIURL      string
	S3Endpoint string // http://127.0.0.1:PORT (path-style)
	Bucket     string // "promoflow", already created
	Region     string // "us-east-1"
	AccessKey  string
	SecretKey  string
	// PIDs are the server processes' ids by name ("temporal",
	// "versitygw"), for benchmarks that account for their CPU.
	PIDs map[string]int
	// S3Log is the gateway's log file: a line per request (S3Requests
	// counts them), for benchmarks that account for S3 requests.
	S3Log string
}

// Start starts a Temporal dev server and an S3 gateway (with the bucket
// created) for this test. t.Cleanup stops both.
func Start(t testing.TB) *Stack {
	t.Helper()
	begin := time.Now()
	addr, ui, tsrv := startTemporal(t, DynamicConfig)
	s3 := StartS3Server(t)
	endpoint := s3.Endpoint
	t.Logf("testenv: stack ready in %v (temporal %s, s3 %s)", time.Since(begin).Round(time.Millisecond), addr, endpoint)
	return &Stack{
		TemporalAddr: addr,
		Namespace:    DefaultNamespace,
		UIURL:        ui,
		S3Endpoint:   endpoint,
		Bucket:       DefaultBucket,
		Region:       DefaultRegion,
		AccessKey:    DefaultAccessKey,
		SecretKey:    DefaultSecretKey,
		PIDs:         map[string]int{"temporal": tsrv.cmd.Process.Pid, "versitygw": s3.srv.cmd.Process.Pid},
		S3Log:        s3.srv.logPath,
	}
}

// S3Requests counts the requests in a versitygw log (Stack.S3Log) by HTTP
// method: the gateway writes one line per request, "time | vgw | status |
// duration | client | METHOD | path | ...".
func S3Requests(logPath string) (map[string]int, error) {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 7 || strings.TrimSpace(f[1]) != "vgw" {
			continue
		}
		out[strings.TrimSpace(f[5])]++
	}
	return out, nil
}

// S3Client returns a client for the stack's S3 gateway.
func (s *Stack) S3Client() *s3.Client {
	return NewS3Client(s.S3Endpoint, s.Region, s.AccessKey, s.SecretKey)
}

// Env returns the PROMOFLOW_* and AWS_* variables (KEY=VALUE) that point the
// worker or the starter at this stack. Append them to os.Environ() for a
// child process; the task queue is left to the caller
// (PROMOFLOW_TASK_QUEUE).
func (s *Stack) Env() []string {
	return []string{
		"PROMOFLOW_TEMPORAL_ADDRESS=" + s.TemporalAddr,
		"PROMOFLOW_NAMESPACE=" + s.Namespace,
		"PROMOFLOW_UI=" + s.UIURL,
		"PROMOFLOW_S3_ENDPOINT=" + s.S3Endpoint,
		"PROMOFLOW_BUCKET=" + s.Bucket,
		"PROMOFLOW_S3_REGION=" + s.Region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
	}
}

// StartTemporal starts a Temporal dev server (SQLite file in
// t.TempDir(), namespace "default") and returns its frontend address
// host:port once the namespace answers. t.Cleanup stops it.
func StartTemporal(t testing.TB) (addr string) {
	t.Helper()
	addr, _, _ = startTemporal(t, DynamicConfig)
	return addr
}

// StartTemporalWith is StartTemporal with the dynamic configuration
// values dc (KEY=VALUE) in place of DynamicConfig: nil runs Temporal's
// defaults.
func StartTemporalWith(t testing.TB, dc []string) (addr string) {
	t.Helper()
	addr, _, _ = startTemporal(t, dc)
	return addr
}

// SearchAttributes are the custom search attributes the dev server
// registers, as start-dev's KEY=TYPE: promoflow's (workflows.SearchAttributeTypes;
// a test there checks that they agree).
var SearchAttributes = []string{"CampaignTemplate=Keyword", "CampaignId=Keyword", "Stage=Keyword", "BudgetUsed=Double"}

// DynamicConfig are the dev server's dynamic configuration values, as
// start-dev's KEY=VALUE (scripts/stack.sh passes the same; a test checks that
// they agree). One task queue partition: with the default four, a fan-out
// wider than the worker's free slots waits on tasks forwarded between
// partitions, about 100 ms per task beyond the slots (docs/PERFORMANCE.md,
// "Orchestration latency"). Eager activities: the server hands activity
// tasks back in the workflow task's reply when the worker has free slots,
// saving the matching round trip.
var DynamicConfig = []string{
	"matching.numTaskqueueReadPartitions=1",
	"matching.numTaskqueueWritePartitions=1",
	"system.enableActivityEagerExecution=true",
}

// S3PosixFlags are versitygw's posix backend flags (scripts/stack.sh and
// docker-compose.yml pass the same; tests check that they agree).
// Checksum-derived ETags: versitygw otherwise computes an MD5 of every
// uploaded byte for the ETag besides the CRC-64 it computes anyway, and
// the MD5 was half of its CPU in a run (docs/PERFORMANCE.md); promoflow
// never reads an ETag as an MD5.
var S3PosixFlags = []string{"--data-integrity-etag"}

// DefaultSQLitePragmas are the dev server's SQLite settings unless
// PROMOFLOW_SQLITE_PRAGMAS says otherwise (scripts/stack.sh has the same
// default; a test checks that they agree). A write-ahead log with normal
// syncing: SQLite's default (a rollback journal synced in full at every
// commit) made every workflow and activity task wait on the disk, up to a
// second at the tail (docs/PERFORMANCE.md, "Live decisions"). A killed
// server loses nothing; only a machine crash can lose the last commits, as
// the dev server's data may.
var DefaultSQLitePragmas = []string{"journal_mode=wal", "synchronous=normal"}

// SQLitePragmas are the dev server's SQLite settings (PRAGMA=VALUE):
// PROMOFLOW_SQLITE_PRAGMAS, comma-separated, when set ("none": SQLite's
// own defaults), else DefaultSQLitePragmas.
func SQLitePragmas() []string {
	v, ok := os.LookupEnv("PROMOFLOW_SQLITE_PRAGMAS")
	if !ok {
		return DefaultSQLitePragmas
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "none" {
			out = append(out, p)
		}
	}
	return out
}

func startTemporal(t testing.TB, dc []string) (addr, uiURL string, srv *server) {
	t.Helper()
	bin := mustBinary(t, temporalBin)
	dir := t.TempDir()
	var lastErr error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		port, uiPort := FreePort(t), FreePort(t)
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		uiURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(uiPort))
		args := []string{"server", "start-dev",
			"--ip", "127.0.0.1",
			"--port", strconv.Itoa(port),
			"--db-filename", filepath.Join(dir, fmt.Sprintf("temporal-%d.db", attempt)),
			"--namespace", DefaultNamespace,
			"--log-level", "warn",
			"--disable-config-file", "--disable-config-env",
		}
		for _, sa := range SearchAttributes {
			args = append(args, "--search-attribute", sa)
		}
		for _, kv := range dc {
			args = append(args, "--dynamic-config-value", kv)
		}
		for _, pr := range SQLitePragmas() {
			args = append(args, "--sqlite-pragma", pr)
		}
		if os.Getenv("PROMOFLOW_TEST_UI") != "" {
			args = append(args, "--ui-ip", "127.0.0.1", "--ui-port", strconv.Itoa(uiPort))
		} else {
			args = append(args, "--headless")
		}
		srv = startServer(t, "temporal", bin, args, filepath.Join(dir, fmt.Sprintf("temporal-%d.log", attempt)))
		err := srv.waitReady(func(ctx context.Context) error { return temporalReady(ctx, addr) })
		if err == nil {
			return addr, uiURL, srv
		}
		lastErr = err
		srv.stop()
		if !portClash(srv.logPath) {
			break
		}
	}
	t.Fatalf("testenv: %v", lastErr)
	return "", "", nil
}

// temporalReady succeeds once the frontend answers health checks and the
// default namespace is registered.
func temporalReady(ctx context.Context, addr string) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := dialTemporal(cctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.CheckHealth(cctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	resp, err := c.WorkflowService().DescribeNamespace(cctx, &workflowservice.DescribeNamespaceRequest{Namespace: DefaultNamespace})
	if err != nil {
		return fmt.Errorf("describe namespace %q: %w", DefaultNamespace, err)
	}
	if st := resp.GetNamespaceInfo().GetState(); st != enums.NAMESPACE_STATE_REGISTERED {
		return fmt.Errorf("namespace %q is %v", DefaultNamespace, st)
	}
	return nil
}

// quietLogger keeps the SDK's connection chatter out of test output.
var quietLogger = tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// warnLogger shows the SDK's warnings and errors (a failing workflow task,
// an activity error) of the clients tests run workers on.
var warnLogger = tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

func dialTemporal(ctx context.Context, addr string) (client.Client, error) {
	return client.DialContext(ctx, client.Options{HostPort: addr, Namespace: DefaultNamespace, Logger: quietLogger})
}

// TemporalClient dials the stack's Temporal server (namespace "default",
// SDK warnings and errors to stderr) and closes the client in t.Cleanup.
func (s *Stack) TemporalClient(t testing.TB) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.TemporalAddr, Namespace: s.Namespace, Logger: warnLogger})
	if err != nil {
		t.Fatalf("testenv: dial temporal %s: %v", s.TemporalAddr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// Store is a blob store on the stack's bucket.
func (s *Stack) Store(t testing.TB) *blob.S3 {
	t.Helper()
	store, err := blob.NewS3(context.Background(), blob.Config{
		Endpoint: s.S3Endpoint, Region: s.Region, Bucket: s.Bucket,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatalf("testenv: s3 store: %v", err)
	}
	return store
}

// TemporalCLI runs bin/temporal with args against addr (it appends --address
// and ignores the developer's CLI config file and TEMPORAL_* variables) and
// returns the combined output. Handy in tests, e.g.
// TemporalCLI(t, stack.TemporalAddr, "workflow", "describe", "-w", id, "-o", "json").
func TemporalCLI(t testing.TB, addr string, args ...string) (string, error) {
	t.Helper()
	bin := mustBinary(t, temporalBin)
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--address", addr, "--disable-config-file", "--disable-config-env")...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// StartS3 starts versitygw (posix backend over a folder in t.TempDir()) with
// the fixed dev credentials, waits until ListBuckets succeeds, creates bucket
// "promoflow" and returns the endpoint URL. t.Cleanup stops it.
func StartS3(t testing.TB) (endpoint string) {
	t.Helper()
	return StartS3Server(t).Endpoint
}

// S3Server is a running versitygw that a test can stop and start again on
// the same port and folder, to see what a restart of the S3 service does.
type S3Server struct {
	Endpoint string
	t        testing.TB
	bin      string
	args     []string
	logDir   string
	srv      *server
	starts   int
}

// StartS3Server is StartS3 returning a handle for restarts.
func StartS3Server(t testing.TB) *S3Server {
	t.Helper()
	bin := mustBinary(t, s3Bin)
	dir := t.TempDir()
	var lastErr error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		root := filepath.Join(dir, fmt.Sprintf("s3-%d", attempt))
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		port := FreePort(t)
		hostport := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		args := []string{"--port", hostport, "--access", DefaultAccessKey, "--secret", DefaultSecretKey,
			"--region", DefaultRegion, "--health", "/health", "posix"}
		args = append(append(args, S3PosixFlags...), root)
		s := &S3Server{Endpoint: "http://" + hostport, t: t, bin: bin, logDir: dir, args: args}
		err := s.start()
		if err == nil {
			return s
		}
		lastErr = err
		s.srv.stop()
		if !portClash(s.srv.logPath) {
			break
		}
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

func (s *S3Server) start() error {
	s.starts++
	s.srv = startServer(s.t, "versitygw", s.bin, s.args, filepath.Join(s.logDir, fmt.Sprintf("versitygw-%d.log", s.starts)))
	client := NewS3Client(s.Endpoint, DefaultRegion, DefaultAccessKey, DefaultSecretKey)
	return s.srv.waitReady(func(ctx context.Context) error {
		if err := WaitS3(ctx, client, nil); err != nil {
			return err
		}
		return EnsureBucket(ctx, client, DefaultBucket)
	})
}

// Stop kills the gateway; its data stays.
func (s *S3Server) Stop() { s.srv.stop() }

// Restart stops the gateway if it runs and starts it again on the same port
// over the same data.
func (s *S3Server) Restart() error {
	s.srv.stop()
	return s.start()
}

// server is one child process and its log file.
type server struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{} // closed when the process has exited
	waitErr error
	once    sync.Once
}

func startServer(t testing.TB, name, bin string, args []string, logPath string) *server {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Stdin = nil
	cmd.Dir = filepath.Dir(logPath)
	setProcAttrs(cmd)
	fmt.Fprintf(logf, "# %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	s := &server{name: name, cmd: cmd, logPath: logPath, started: time.Now(), done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	t.Cleanup(s.stop)
	return s
}

// alive reports an error if the process has already exited.
func (s *server) alive() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s exited early (%v)", s.name, s.waitErr)
	default:
		return nil
	}
}

// waitReady polls ready until it succeeds, the process exits, or
// StartTimeout passes. Errors carry the tail of the server's log.
func (s *server) waitReady(ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	var last error
	for {
		if err := s.alive(); err != nil {
			return s.fail(err)
		}
		err := ready(ctx)
		if err == nil {
			if err := s.alive(); err != nil { // answered, but not our process
				return s.fail(err)
			}
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return s.fail(fmt.Errorf("%s not ready after %v: %v", s.name, StartTimeout, last))
		case <-s.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *server) fail(err error) error {
	return fmt.Errorf("%v\ncommand: %s\nlog %s (tail):\n%s", err,
		strings.Join(s.cmd.Args, " "), s.logPath, tail(s.logPath, 40))
}

// stop kills the process group and waits for the process to be reaped.
// Data is thrown away with the TempDir, so there is no graceful shutdown.
func (s *server) stop() {
	s.once.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		_ = killGroup(s.cmd.Process.Pid)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

func portClash(logPath string) bool {
	return strings.Contains(tail(logPath, 200), "address already in use")
}

// tail returns the last n lines of a file (at most 16 KiB).
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	const max = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// BinDir returns the folder holding the pinned tool binaries:
// $PROMOFLOW_BIN_DIR if set, else <module root>/bin, the module root being
// found by walking up from the working directory (or this source file) to
// go.mod.
func BinDir() (string, error) {
	if d := os.Getenv("PROMOFLOW_BIN_DIR"); d != "" {
		return filepath.Abs(d)
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return filepath.Join(dir, "bin"), nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("testenv: no go.mod found above the working directory; set PROMOFLOW_BIN_DIR")
}

func mustBinary(t testing.TB, name string) string {
	t.Helper()
	dir, err := BinDir()
	if err != nil {
		t.Fatalf("%v (run `make tools`)", err)
	}
	p := filepath.Join(dir, name)
	st, err := os.Stat(p)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		t.Fatalf("testenv: %s not found or not executable at %s: run `make tools` (or set PROMOFLOW_BIN_DIR)", name, p)
	}
	return p
}

var (
	portMu    sync.Mutex
	portsUsed = map[int]bool{}
)

// FreePort returns a free TCP port on 127.0.0.1. Ports are never handed out
// twice by one test binary, which avoids most clashes between servers
// started back to back; a server that still loses the race is restarted on
// new ports.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !portsUsed[port] {
			portsUsed[port] = true
			return port
		}
	}
	t.Fatalf("testenv: no free port found")
	return 0
}
