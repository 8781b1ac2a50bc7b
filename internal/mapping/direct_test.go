package mapping

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/canon"
)

// TestConvertDirect: the fast conversion of direct columns gives what the
// interpreter's convert gives, or leaves the value to it.
func TestConvertDirect(t *testing.T) {
	texts := []string{
		"0", "-0", "1", "+7", "007", "1.5", "-2.25", "1e3", "0x10", "0x1p-2", "9007199254740992", "9007199254740993",
		"-9007199254740993", "99999999999999999999", "NaN", "Inf", "1_000", "abc", "Abc", "VIEW", "true",
		"2026-06-05T21:18:04Z", "2026-06-05T21:18:04.5Z", "2026-06-05T21:18:04+02:00", "2026-02-29T00:00:00Z",
		"2028-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-31T23:59:60Z", "2026-12-31T24:00:00Z",
		"1899-12-31T23:59:59Z", "1900-01-01T00:00:00Z", "2199-12-31T23:59:59Z", "2200-01-01T00:00:00Z",
		"0000-01-01T00:00:00Z", "2026-06-05 21:18:04", "2026-06-05", "2026-06-0xT21:18:04Z", "2026-06-05t21:18:04Z",
	}
	texts = append(texts, "12345678901234", "123456789012345", "1234567890123456", "0.000000000000001", "1.000000000000001",
		"123456789012.345", "5.", ".5", "1..2", "1.2.3", "00.10", "27.49", "0.1", "0.3", " 1", "1 ", "2026-06-05T21:18:04Z ")
	texts = append(texts, randomTexts(rand.New(rand.NewPCG(7, 7)), 20000)...)
	for _, c := range []*Column{
		{Target: "x", Kind: canon.String},
		{Target: "x", Kind: canon.String, lower: true},
		{Target: "x", Kind: canon.Int},
		{Target: "x", Kind: canon.Float},
		{Target: "x", Kind: canon.Timestamp, Layouts: DefaultLayouts},
		{Target: "x", Kind: canon.Timestamp, Layouts: []string{"2006-01-02", "rfc3339"}},
		{Target: "x", Kind: canon.Bool},
	} {
		for _, s := range texts {
			var got canon.Value
			if !c.convertDirect(s, &got) {
				continue
			}
			v := val{k: vStr, s: s, col: 0}
			if c.lower {
				v = strVal(lowerText(s))
			}
			want, reason := c.convert(v)
			if reason != "" || got != want {
				t.Errorf("%v %q: direct %+v, convert %+v %q", c.Kind, s, got, want, reason)
			}
		}
	}
}

func lowerText(s string) string {
	v, _ := funcs["lower"].call([]val{strVal(s)})
	return v.s
}

// randomTexts are decimals of 1 to 17 digits with and without a point,
// and timestamps over the whole accepted range and past its ends, some
// with out-of-range fields.
func randomTexts(r *rand.Rand, n int) []string {
	var out []string
	for range n {
		digits := 1 + r.IntN(17)
		var b strings.Builder
		for range digits {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		s := b.String()
		out = append(out, s)
		if p := r.IntN(len(s) + 1); p > 0 {
			out = append(out, s[:p]+"."+s[p:])
		}
		t := time.Unix(r.Int64N(12e9)-5e9, 0).UTC()
		out = append(out, t.Format("2006-01-02T15:04:05Z"))
		out = append(out, fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", 1890+r.IntN(320), r.IntN(14), r.IntN(33), r.IntN(25), r.IntN(61), r.IntN(61)))
	}
	return out
}

// TestDirectValue: a direct column's fast path gives what value gives,
// for present, blank, absent and null fields under every missing-value
// policy, or leaves the field to it.
func TestDirectValue(t *testing.T) {
	p := &Program{Table: canon.EventsTable}
	fill := canon.Value{Str: "filled"}
	fields := []string{"", "  ", "x", " 7 ", "VIEW"}
	taken := 0
	for _, m := range []string{"", Keep, Reject, Fill, CarryForward} {
		for _, k := range []canon.Kind{canon.String, canon.Int} {
			for idx := -1; idx <= len(fields); idx++ {
				for _, null := range []bool{false, true} {
					c := &Column{Target: "x", Kind: k, Missing: m, FillValue: &fill, direct: &colNode{name: "f", idx: idx}}
					e := &env{fields: fields}
					if null {
						e.null = make([]bool, len(fields))
						for i := range e.null {
							e.null[i] = true
						}
					}
					var got canon.Value
					if !p.directValue(e, c, &got) {
						continue
					}
					taken++
					var out Row
					want, ok := p.value(e, c, &out)
					if !ok || got != want {
						t.Errorf("policy %q, kind %v, field %d, null %v: direct %+v, value %+v (ok %v)", m, k, idx, null, got, want, ok)
					}
				}
			}
		}
	}
	if taken < 20 {
		t.Fatalf("the fast path took only %d cases", taken)
	}
}
