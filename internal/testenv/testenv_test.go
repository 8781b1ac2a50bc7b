package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

func checkS3RoundTrip(t *testing.T, st *Stack, key, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := st.S3Client()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(st.Bucket), Key: aws.String(key), Body: strings.NewReader(body),
	}); err != nil {
		t.Fatalf("PutObject %s on %s: %v", key, st.S3Endpoint, err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(st.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s on %s: %v", key, st.S3Endpoint, err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if string(got) != body {
		t.Fatalf("GetObject %s = %q, want %q", key, got, body)
	}
}

// checkNamespace asks the server, through the SDK client, for the namespace.
func checkNamespace(t *testing.T, st *Stack) {
	t.Helper()
	c := st.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatalf("CheckHealth on %s: %v", st.TemporalAddr, err)
	}
	resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: st.Namespace})
	if err != nil {
		t.Fatalf("DescribeNamespace %q on %s: %v", st.Namespace, st.TemporalAddr, err)
	}
	if got := resp.GetNamespaceInfo(); got.GetName() != "default" || got.GetState() != enums.NAMESPACE_STATE_REGISTERED {
		t.Fatalf("namespace = %v %v, want default registered", got.GetName(), got.GetState())
	}
}

// checkWorkflowStart starts a workflow (no worker polls it) right after the
// stack is ready and reads it back: the server accepts work, not just RPCs.
func checkWorkflowStart(t *testing.T, st *Stack) {
	t.Helper()
	c := st.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "testenv-probe-1", TaskQueue: "testenv-probe"}, "TestenvProbe")
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatalf("DescribeWorkflowExecution: %v", err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != "TestenvProbe" || info.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow = %v %v, want TestenvProbe running", info.GetType().GetName(), info.GetStatus())
	}

	// The same workflow through the CLI helper.
	out, err := TemporalCLI(t, st.TemporalAddr, "workflow", "describe", "--namespace", st.Namespace,
		"--workflow-id", "testenv-probe-1", "--output", "json")
	if err != nil {
		t.Fatalf("temporal workflow describe: %v\n%s", err, out)
	}
	var cli struct {
		WorkflowExecutionInfo struct {
			Execution struct {
				RunID string `json:"runId"`
			} `json:"execution"`
		} `json:"workflowExecutionInfo"`
	}
	// The CLI may print warnings after the JSON document; decode the first value.
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&cli); err != nil {
		t.Fatalf("decode CLI output: %v\n%s", err, out)
	}
	if cli.WorkflowExecutionInfo.Execution.RunID != run.GetRunID() {
		t.Fatalf("CLI run id = %q, want %q\n%s", cli.WorkflowExecutionInfo.Execution.RunID, run.GetRunID(), out)
	}
}

func portOf(t *testing.T, hostport string) string {
	t.Helper()
	hostport = strings.TrimPrefix(hostport, "http://")
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("split %q: %v", hostport, err)
	}
	if host != "127.0.0.1" {
		t.Fatalf("host of %q = %q, want 127.0.0.1", hostport, host)
	}
	return port
}

func TestStack(t *testing.T) {
	begin := time.Now()
	st := Start(t)
	t.Logf("Start took %v", time.Since(begin))

	if st.Namespace != "default" || st.Bucket != "promoflow" || st.Region != "us-east-1" ||
		st.AccessKey != "promoflow" || st.SecretKey != "promoflow-secret" {
		t.Fatalf("unexpected stack settings: %+v", st)
	}
	if !strings.HasPrefix(st.S3Endpoint, "http://127.0.0.1:") || !strings.HasPrefix(st.UIURL, "http://127.0.0.1:") {
		t.Fatalf("unexpected URLs: %+v", st)
	}
	portOf(t, st.TemporalAddr)

	checkS3RoundTrip(t, st, "dir/hello.txt", "hello, promoflow")
	checkNamespace(t, st)
	checkWorkflowStart(t, st)

	// The bucket exists and the object is listed.
	ctx := context.Background()
	lo, err := st.S3Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket)})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	if len(lo.Contents) != 1 || aws.ToString(lo.Contents[0].Key) != "dir/hello.txt" {
		t.Fatalf("objects = %v, want [dir/hello.txt]", lo.Contents)
	}
	// Creating the bucket again is harmless.
	if err := EnsureBucket(ctx, st.S3Client(), st.Bucket); err != nil {
		t.Fatalf("EnsureBucket again: %v", err)
	}

	// The gateway's log counts requests: three more GETs, one each.
	before, err := S3Requests(st.S3Log)
	if err != nil || before["PUT"] < 1 || before["GET"] < 1 {
		t.Fatalf("S3Requests before = %v, %v: want the round trip's PUT and GET", before, err)
	}
	for range 3 {
		if _, err := st.S3Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket)}); err != nil {
			t.Fatal(err)
		}
	}
	var after map[string]int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if after, err = S3Requests(st.S3Log); err == nil && after["GET"] >= before["GET"]+3 {
			break
		}
	}
	if after["GET"] != before["GET"]+3 || after["PUT"] != before["PUT"] {
		t.Errorf("S3Requests after three lists = %v, before %v: want GET +3, PUT unchanged", after, before)
	}

	env := strings.Join(st.Env(), "\n")
	for _, want := range []string{
		"PROMOFLOW_TEMPORAL_ADDRESS=" + st.TemporalAddr,
		"PROMOFLOW_S3_ENDPOINT=" + st.S3Endpoint,
		"PROMOFLOW_BUCKET=promoflow",
		"AWS_ACCESS_KEY_ID=promoflow",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() lacks %q", want)
		}
	}
}

func TestTwoStacksAreIndependent(t *testing.T) {
	var ports []string
	var tmpAddr, s3Addr []string
	t.Run("stacks", func(t *testing.T) {
		a := Start(t)
		b := Start(t)
		ports = []string{portOf(t, a.TemporalAddr), portOf(t, a.S3Endpoint), portOf(t, b.TemporalAddr), portOf(t, b.S3Endpoint)}
		seen := map[string]bool{}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %s used twice: %v", p, ports)
			}
			seen[p] = true
		}
		for _, st := range []*Stack{a, b} {
			checkNamespace(t, st)
			checkWorkflowStart(t, st) // same workflow ID on both: separate servers
		}
		checkS3RoundTrip(t, a, "only-in-a", "A")
		checkS3RoundTrip(t, b, "only-in-b", "B")

		// Each gateway has its own data folder.
		_, err := b.S3Client().HeadObject(context.Background(), &s3.HeadObjectInput{
			Bucket: aws.String(b.Bucket), Key: aws.String("only-in-a"),
		})
		if err == nil {
			t.Fatalf("object written to stack a is visible in stack b")
		}
		tmpAddr = []string{a.TemporalAddr, b.TemporalAddr}
		s3Addr = []string{strings.TrimPrefix(a.S3Endpoint, "http://"), strings.TrimPrefix(b.S3Endpoint, "http://")}
	})
	if t.Failed() {
		return
	}
	// The subtest's cleanups have run: every server is gone and its port free.
	for _, addr := range append(tmpAddr, s3Addr...) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after cleanup", addr)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("port %s not free after cleanup: %v", addr, err)
			continue
		}
		l.Close()
	}
}

func TestBinDir(t *testing.T) {
	t.Setenv("PROMOFLOW_BIN_DIR", "")
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "bin" {
		t.Fatalf("BinDir() = %s, want .../bin", dir)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "go.mod")); err != nil {
		t.Fatalf("BinDir() = %s is not next to go.mod: %v", dir, err)
	}

	other := t.TempDir()
	t.Setenv("PROMOFLOW_BIN_DIR", other)
	if got, err := BinDir(); err != nil || got != other {
		t.Fatalf("BinDir() with PROMOFLOW_BIN_DIR = %q, %v; want %q", got, err, other)
	}
}

func TestFreePortUnique(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if p <= 0 || p > 65535 || seen[p] {
			t.Fatalf("FreePort returned %d (seen before: %v)", p, seen[p])
		}
		seen[p] = true
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("a\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := tail(p, 2); got != "c\nd" {
		t.Fatalf("tail = %q, want %q", got, "c\nd")
	}
}

// fatalRecorder captures Fatalf instead of failing the real test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinaryMessage(t *testing.T) {
	t.Setenv("PROMOFLOW_BIN_DIR", t.TempDir()) // empty folder
	for name, start := range map[string]func(testing.TB){
		"temporal":  func(tb testing.TB) { StartTemporal(tb) },
		"versitygw": func(tb testing.TB) { StartS3(tb) },
	} {
		rec := &fatalRecorder{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); start(rec) }()
		<-done
		if !strings.Contains(rec.msg, name) || !strings.Contains(rec.msg, "make tools") {
			t.Errorf("missing %s: message %q should name the binary and say `make tools`", name, rec.msg)
		}
	}
}

func TestServerExitShowsLogTail(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"fake server: boom ($1 $2)\" >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, "temporal"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PROMOFLOW_BIN_DIR", dir)
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); StartTemporal(rec) }()
	<-done
	for _, want := range []string{"temporal exited early", "fake server: boom (server start-dev)", "--headless", "temporal-1.log"} {
		if !strings.Contains(rec.msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, rec.msg)
		}
	}
}

// TestStackScriptDynamicConfig keeps make up's dev server (scripts/stack.sh
// DYNAMIC_CONFIG=(...)) configured as the tests' is.
func TestStackScriptDynamicConfig(t *testing.T) {
	script, err := os.ReadFile("../../scripts/stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^DYNAMIC_CONFIG=\(([^)]*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/stack.sh: no DYNAMIC_CONFIG=(...) line")
	}
	got, want := strings.Fields(string(m[1])), DynamicConfig
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("scripts/stack.sh passes %v, testenv %v", got, want)
	}
}

// TestStackScriptS3Flags: scripts/stack.sh starts versitygw's posix
// backend with testenv's flags.
func TestStackScriptS3Flags(t *testing.T) {
	script, err := os.ReadFile("../../scripts/stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^S3_POSIX_FLAGS=\(([^)]*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/stack.sh: no S3_POSIX_FLAGS=(...) line")
	}
	if got, want := strings.Fields(string(m[1])), S3PosixFlags; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("scripts/stack.sh passes %v, testenv %v", got, want)
	}
	if !strings.Contains(string(script), `posix "${S3_POSIX_FLAGS[@]}"`) {
		t.Error("scripts/stack.sh does not pass S3_POSIX_FLAGS to versitygw posix")
	}
}

// TestStackScriptSQLitePragmas: scripts/stack.sh's dev server defaults to
// testenv's SQLite settings.
func TestStackScriptSQLitePragmas(t *testing.T) {
	script, err := os.ReadFile("../../scripts/stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SQLITE_PRAGMAS=(\S+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/stack.sh: no SQLITE_PRAGMAS=... line")
	}
	if got, want := string(m[1]), strings.Join(DefaultSQLitePragmas, ","); got != want {
		t.Errorf("scripts/stack.sh defaults to %s, testenv to %s", got, want)
	}
}

func TestSQLitePragmas(t *testing.T) {
	for _, tc := range []struct {
		env  *string
		want string
	}{
		{nil, strings.Join(DefaultSQLitePragmas, " ")},
		{ptr("none"), ""},
		{ptr(""), ""},
		{ptr("journal_mode=wal, busy_timeout=5000"), "journal_mode=wal busy_timeout=5000"},
	} {
		if tc.env == nil {
			t.Setenv("PROMOFLOW_SQLITE_PRAGMAS", "") // restored after the test
			os.Unsetenv("PROMOFLOW_SQLITE_PRAGMAS")
		} else {
			t.Setenv("PROMOFLOW_SQLITE_PRAGMAS", *tc.env)
		}
		if got := strings.Join(SQLitePragmas(), " "); got != tc.want {
			t.Errorf("env %v: %q, want %q", tc.env, got, tc.want)
		}
	}
}

func ptr(s string) *string { return &s }
