package canon

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/promoflow/promoflow/internal/arrowio"
)

func TestEventsRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)

	in := []Event{
		{UserID: "u1", TS: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Type: View, ItemID: "i1", Category: "shoes", Text: "red running shoe", Quantity: 1, Price: 59.9, Channel: "web"},
		{UserID: "u2", TS: time.Date(2026, 11, 2, 11, 30, 0, 123e6, time.UTC), Type: Purchase, ItemID: "i2", Category: "bags", Text: "tote", Quantity: 2, Price: 20, OrderID: "o9", Channel: "app"},
		{UserID: "u1", TS: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), Type: Search, Text: "trail shoes"},
	}
	b := NewEventBuilder(mem)
	for _, e := range in {
		b.Append(e)
	}
	if b.Len() != len(in) {
		t.Fatalf("Len = %d, want %d", b.Len(), len(in))
	}
	rec := b.NewRecord()
	b.Release()
	data, err := arrowio.Encode(EventSchema, mem, rec)
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	err = arrowio.Each(data, EventSchema, mem, func(r arrow.Record) error {
		ev, err := NewEvents(r)
		if err != nil {
			return err
		}
		for i := 0; i < ev.Len(); i++ {
			out = append(out, ev.At(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d events, want %d", len(out), len(in))
	}
	for i := range in {
		if !out[i].TS.Equal(in[i].TS) {
			t.Errorf("row %d ts = %v, want %v", i, out[i].TS, in[i].TS)
		}
		out[i].TS = in[i].TS
		if out[i] != in[i] {
			t.Errorf("row %d = %+v, want %+v", i, out[i], in[i])
		}
	}
}

func TestValidType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"view", true}, {"purchase", true}, {"return", true}, {"Purchase", false}, {"", false}, {"click", false}} {
		if got := ValidType(tc.in); got != tc.want {
			t.Errorf("ValidType(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestTablesDocumented keeps docs/DATA.md true: every column of every
// canonical table is in its table's section.
func TestTablesDocumented(t *testing.T) {
	data, err := os.ReadFile("../../docs/DATA.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for name, tb := range Tables {
		i := strings.Index(doc, "### "+name+":")
		if i < 0 {
			t.Errorf("docs/DATA.md has no section for table %s", name)
			continue
		}
		sec := doc[i+4:]
		if j := strings.Index(sec, "\n### "); j >= 0 {
			sec = sec[:j]
		}
		for _, c := range tb.Columns {
			if !strings.Contains(sec, "| `"+c.Name+"` | "+docKind(c)) {
				t.Errorf("docs/DATA.md, table %s: no row for column %s (%s)", name, c.Name, docKind(c))
			}
		}
	}
}

// docKind is how docs/DATA.md spells a column's type.
func docKind(c Column) string {
	switch c.Kind {
	case Timestamp:
		return "timestamp (ms, UTC)"
	case Int:
		return "int64"
	case Float:
		return "float64"
	}
	return c.Kind.String()
}

// TestChecked: Check never rejects a value of a column that Checked says
// has no rules.
func TestChecked(t *testing.T) {
	values := []Value{{Str: "bogus"}, {Str: "view"}, {Int: -1}, {Int: 1}, {Float: math.NaN()}, {Float: math.Inf(1)},
		{Float: -1}, {Float: 0}, {Float: 0.5}, {Float: 2}, {Bool: true}}
	for name, tab := range Tables {
		for i, c := range tab.Columns {
			if tab.Checked(i) {
				continue
			}
			for _, v := range values {
				if r := tab.Check(i, v); r != "" {
					t.Errorf("%s.%s: Checked is false, but Check(%+v) = %q", name, c.Name, v, r)
				}
			}
		}
	}
}
