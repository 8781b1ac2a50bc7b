package layout

import (
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/shard"
)

func TestDecideKeys(t *testing.T) {
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	dir := ContactsDir(ContactsName(start, "t-1"), 16)
	for _, tc := range []struct{ got, want string }{
		{ScoredBlock("r", shard.Block{From: 16, To: 32}), "runs/r/decide/scored/block=0016-0032.bin"},
		{ContactsLegacy(start, "t-1"), "state/contacts/2026-11-27_t-1.txt"},
		{ContactsList(start, "t-1", 16), "state/contacts/2026-11-27_t-1.of=0016"},
		{dir, "state/contacts-parts/2026-11-27_t-1/of=0016/"},
		{ContactsPart(dir, 3), "state/contacts-parts/2026-11-27_t-1/of=0016/shard=0003.txt"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseContacts(t *testing.T) {
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		key, name, dir string
		n              int
		ok             bool
	}{
		{ContactsLegacy(start, "a_b"), "2026-11-27_a_b", "", 0, true},
		{ContactsList(start, "a_b", 1024), "2026-11-27_a_b", "state/contacts-parts/2026-11-27_a_b/of=1024/", 1024, true},
		{"state/contacts/2026-11-27_x.of=zz", "", "", 0, false},
		{"state/contacts/sub/2026-11-27_x.txt", "", "", 0, false},
		{"state/other/2026-11-27_x.txt", "", "", 0, false},
	} {
		name, d, n, ok := ParseContacts(tc.key)
		if name != tc.name || d != tc.dir || n != tc.n || ok != tc.ok {
			t.Errorf("ParseContacts(%q) = %q, %q, %d, %v; want %q, %q, %d, %v", tc.key, name, d, n, ok, tc.name, tc.dir, tc.n, tc.ok)
		}
	}
}
