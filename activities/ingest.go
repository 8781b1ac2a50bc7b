package activities

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/layout"
)

// IngestInput names one input object of a run.
type IngestInput struct {
	RunID  string
	Key    string // raw/... object
	Index  int    // position among the run's inputs
	Shards int
}

// IngestOutput accounts for the object's rows and where they went.
type IngestOutput struct {
	Result    ingest.Result
	Rejects   string  // key of the rejects CSV
	ShardRows []int64 // accepted rows per shard
}

// Ingest parses one input object of canonical event CSV (gzip when the key
// ends in .gz), writes accepted rows to one Arrow piece per shard and
// rejected rows, with line, column and reason, to the run's rejects. It
// heartbeats the rows read. Rewriting the same keys makes a retry harmless.
func (a *Activities) Ingest(ctx context.Context, in IngestInput) (_ IngestOutput, err error) {
	defer final(&err)
	src := layout.Source(in.Index, in.Key)
	rc, err := a.Store.Open(ctx, in.Key)
	if err != nil {
		return IngestOutput{}, err
	}
	defer rc.Close()
	var r io.Reader = bufio.NewReaderSize(rc, 1<<20)
	if strings.HasSuffix(in.Key, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return IngestOutput{}, (&ingest.BadInputError{Source: in.Key, Msg: "not gzip: " + err.Error()})
		}
		defer gz.Close()
		r = gz
	}

	dir, err := os.MkdirTemp(a.TempDir, "ingest-")
	if err != nil {
		return IngestOutput{}, err
	}
	defer os.RemoveAll(dir)
	sharder, err := ingest.NewSharder(dir, in.Shards, a.mem())
	if err != nil {
		return IngestOutput{}, err
	}
	rejPath := filepath.Join(dir, "rejects.csv")
	rejFile, err := os.Create(rejPath)
	if err != nil {
		sharder.Close()
		return IngestOutput{}, err
	}
	defer rejFile.Close()
	rejCSV := csv.NewWriter(rejFile)
	rejCSV.Write([]string{"source", "line", "column", "reason", "value"})

	res, err := ingest.ReadCSV(r, in.Key, sharder.Add,
		func(rj ingest.Reject) error {
			return rejCSV.Write([]string{in.Key, strconv.Itoa(rj.Line), rj.Column, rj.Reason, rj.Value})
		},
		func(rows int64) { activity.RecordHeartbeat(ctx, rows) })
	paths, closeErr := sharder.Close()
	if err != nil {
		return IngestOutput{}, err
	}
	if closeErr != nil {
		return IngestOutput{}, closeErr
	}
	rejCSV.Flush()
	if err := rejCSV.Error(); err != nil {
		return IngestOutput{}, fmt.Errorf("rejects: %w", err)
	}
	for i, p := range paths {
		if err := a.Store.PutFile(ctx, layout.EventsPart(in.RunID, i, src), p); err != nil {
			return IngestOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	rejKey := layout.Rejects(in.RunID, src)
	if err := a.Store.PutFile(ctx, rejKey, rejPath); err != nil {
		return IngestOutput{}, err
	}
	return IngestOutput{Result: res, Rejects: rejKey, ShardRows: sharder.Rows()}, nil
}
