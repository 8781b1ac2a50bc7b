package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStackScriptFailedStartStopsWhatItStarted runs scripts/stack.sh servers
// with stand-ins for the tools: a Temporal server whose command line never
// names its binary (as a process just forked, before exec, shows the
// script's) and a versitygw that exits during start-up. The script must
// wait on the server's pid (not call it dead for its command line), report
// versitygw's exit, and stop the server it had started, by its pid.
func TestStackScriptFailedStartStopsWhatItStarted(t *testing.T) {
	bin, state := t.TempDir(), t.TempDir()
	fake := map[string]string{
		"temporal": `#!/usr/bin/env bash
case "$1 $2" in
"server start-dev") exec -a not-the-binary sleep 300 ;;
"operator namespace") echo NAMESPACE_STATE_REGISTERED ;;
"operator search-attribute") echo CampaignTemplate CampaignId Stage BudgetUsed ;;
*) echo "fake temporal: $*" >&2; exit 2 ;;
esac
`,
		"versitygw": `#!/usr/bin/env bash
sleep 0.5
echo "fake versitygw: cannot listen" >&2
exit 3
`,
	}
	for name, script := range fake {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", "../../scripts/stack.sh", "servers")
	cmd.Env = append(os.Environ(),
		"PROMOFLOW_BIN_DIR="+bin, "PROMOFLOW_STATE_DIR="+state,
		fmt.Sprintf("PROMOFLOW_TEMPORAL_ADDRESS=127.0.0.1:%d", FreePort(t)),
		fmt.Sprintf("PROMOFLOW_UI=http://127.0.0.1:%d", FreePort(t)),
		fmt.Sprintf("PROMOFLOW_S3_ENDPOINT=http://127.0.0.1:%d", FreePort(t)),
		"PROMOFLOW_READY_TIMEOUT=20", "PROMOFLOW_STOP_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	var pid int
	if m := regexp.MustCompile(`temporal: started \(pid (\d+)`).FindSubmatch(out); m != nil {
		pid, _ = strconv.Atoi(string(m[1]))
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("stack.sh servers: %v, want exit 1\n%s", err, out)
	}
	for _, want := range []string{
		"temporal: ready at",
		"versitygw exited during start-up",
		"fake versitygw: cannot listen",
		"temporal: stopping it, the start failed",
		fmt.Sprintf("temporal: stopped (pid %d)", pid),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if pid == 0 {
		t.Fatalf("no temporal pid in the output:\n%s", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the server stack.sh started (pid %d) still runs after the failed start", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "run", "*.pid")); len(left) > 0 {
		t.Errorf("pid files left: %v", left)
	}
}
