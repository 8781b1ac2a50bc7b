package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"release", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"},
			Settings: vcs("vcs", "git", "vcs.revision", "72921445e87b62157f55b363946d4fa4d1ea4cb9", "vcs.time", "2026-12-04T08:31:21Z", "vcs.modified", "false")},
			"v1.2.0 (commit 72921445e87b, 2026-12-04T08:31:21Z) go1.26.8"},
		{"dirty tree", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", "abc", "vcs.modified", "true")},
			"(devel) (commit abc, modified) go1.26.8"},
		{"go run", debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs("-trimpath", "true")},
			"(devel) (commit unknown: built without VCS stamping) go1.26.8"},
	} {
		if got := Describe(&tc.info); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if s := String(); !strings.HasSuffix(s, runtime.Version()) {
		t.Errorf("String() = %q, want the running Go version at its end", s)
	}
}
