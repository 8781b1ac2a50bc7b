package ingest

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/promoflow/promoflow/internal/mapping"
)

func TestLocalOnlineRetailScratch(t *testing.T) {
	path := "../../../shared/data/online-retail/online_retail.csv.gz"
	if _, err := os.Stat(path); err != nil {
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
	res, err := Local(context.Background(), []string{path}, LocalOptions{Mapping: m, Shards: 4, SplitBytes: 8 << 20, ChunkRows: 100000, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	t.Logf("%s", b)
}
