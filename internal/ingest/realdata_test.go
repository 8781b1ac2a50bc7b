package ingest

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/mapping"
)

// onlineRetail is the real Online Retail file (/work/shared/data); tests
// that need it skip when it is absent.
const onlineRetail = "../../../shared/data/online-retail/online_retail.csv.gz"

// retailReference recounts the Online Retail file the way
// deploy/datasets/online-retail.yaml maps it, independently of ingest:
// encoding/csv, a set of whole records for exact duplicates (a record is a
// duplicate before anything else), then the mapping's skip rules, then
// the event type.
type retailReference struct {
	read, duplicates, noUser, acceptedNoUser int64
	byReason, byType                         map[string]int64
}

func countRetail(t *testing.T, path string) retailReference {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(gz)
	header, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimPrefix(h, "\ufeff")] = i
	}
	nonProduct := map[string]bool{}
	for _, c := range []string{"POST", "DOT", "C2", "M", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"} {
		nonProduct[c] = true
	}
	ref := retailReference{byReason: map[string]int64{}, byType: map[string]int64{}}
	seen := map[string]bool{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ref.read++
		noUser := strings.TrimSpace(rec[col["CustomerID"]]) == ""
		if noUser {
			ref.noUser++
		}
		key := strings.Join(rec, "\x00")
		if seen[key] {
			ref.duplicates++
			continue
		}
		seen[key] = true
		invoice := strings.TrimSpace(rec[col["InvoiceNo"]])
		q, err := strconv.ParseFloat(strings.TrimSpace(rec[col["Quantity"]]), 64)
		if err != nil {
			t.Fatalf("line %d: quantity %q", ref.read+1, rec[col["Quantity"]])
		}
		switch {
		case nonProduct[strings.ToUpper(strings.TrimSpace(rec[col["StockCode"]]))]:
			ref.byReason["not a product"]++
		case q < 0 && !strings.HasPrefix(invoice, "C"):
			ref.byReason["stock adjustment"]++
		case strings.HasPrefix(invoice, "C"):
			ref.byType["return"]++
		default:
			ref.byType["purchase"]++
		}
		if noUser && !nonProduct[strings.ToUpper(strings.TrimSpace(rec[col["StockCode"]]))] && !(q < 0 && !strings.HasPrefix(invoice, "C")) {
			ref.acceptedNoUser++
		}
	}
	return ref
}

func TestLocalOnlineRetail(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the whole Online Retail file")
	}
	if _, err := os.Stat(onlineRetail); err != nil {
		t.Skip(err)
	}
	data, err := os.ReadFile("../../deploy/datasets/online-retail.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Local(context.Background(), []string{onlineRetail}, LocalOptions{Mapping: m, Shards: 4, SplitBytes: 8 << 20, ChunkRows: 100000, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	r := res[0]
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	// The dataset README's numbers.
	if r.RowsRead != 541909 || r.Duplicates != 5268 || r.NoUser != 135080 {
		t.Errorf("read %d, duplicates %d, no user %d; want 541909, 5268, 135080", r.RowsRead, r.Duplicates, r.NoUser)
	}
	ref := countRetail(t, onlineRetail)
	if r.RowsRead != ref.read || r.Duplicates != ref.duplicates || r.NoUser != ref.noUser || r.AcceptedNoUser != ref.acceptedNoUser {
		t.Errorf("ingest %+v, reference %+v", r, ref)
	}
	if !equalCounts(r.ByReason, ref.byReason) || !equalCounts(r.ByType, ref.byType) {
		t.Errorf("by reason %v by type %v; reference %v %v", r.ByReason, r.ByType, ref.byReason, ref.byType)
	}
	if r.ByType["return"] == 0 {
		t.Error("no cancellations counted as returns")
	}
	t.Logf("accepted %d (%v), rejected %d (%v), accepted without a user %d", r.Accepted, r.ByType, r.Rejected, r.ByReason, r.AcceptedNoUser)
}

func equalCounts(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
