//go:build unix

package testenv

import (
	"os/exec"
	"syscall"
)

// setProcAttrs puts the child in its own process group so that the whole
// group can be killed, and (on Linux) asks the kernel to kill it if the test
// binary dies without running its cleanups (for example on a test timeout).
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(cmd.SysProcAttr)
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error {
	return syscall.Kill(-pid, syscall.SIGKILL)
}
