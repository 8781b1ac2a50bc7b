//go:build !unix

package testenv

import (
	"os"
	"os/exec"
)

func setProcAttrs(*exec.Cmd) {}

func killGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
