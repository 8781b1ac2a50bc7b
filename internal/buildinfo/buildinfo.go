// Package buildinfo says which promoflow a binary is: its module version
// and the commit it was built from, as the Go toolchain recorded them
// (runtime/debug.ReadBuildInfo).
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// String describes the running binary, for example
// "v0.0.0-20261204083706-7292144c0ffe (commit 7292144c0ffe, 2026-12-04T08:37:06Z) go1.26.8".
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown version (no build information)"
	}
	return Describe(info)
}

// Describe is String for the given build information: the main module's
// version, the VCS commit (12 digits), its time and "modified" when the
// work tree had uncommitted changes, and the Go version. A binary built
// without VCS stamping (go run, go test, -buildvcs=false) says so.
func Describe(info *debug.BuildInfo) string {
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var commit string
	switch {
	case rev == "":
		commit = "commit unknown: built without VCS stamping"
	default:
		parts := []string{"commit " + rev[:min(12, len(rev))]}
		if at != "" {
			parts = append(parts, at)
		}
		if modified {
			parts = append(parts, "modified")
		}
		commit = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%s (%s) %s", version, commit, info.GoVersion)
}
