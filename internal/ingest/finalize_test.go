package ingest

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/mapping"
)

// stagedEvents encodes n staged event rows of distinct records.
func stagedEvents(t *testing.T, n int) []byte {
	t.Helper()
	mem := memory.DefaultAllocator
	schema := StagingSchema(canon.EventsTable)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	kinds := canon.EventsTable.Kinds()
	p := &pieceWriter{b: b}
	sb := newStagedBuilders(p, kinds, newStagedColumns(kinds))
	row := make([]canon.Value, len(kinds))
	for i := 0; i < n; i++ {
		row[0] = canon.Value{Str: "u1"}
		row[1] = canon.Value{Int: int64(i)}
		row[2] = canon.Value{Str: "view"}
		for j := 3; j < len(row); j++ {
			row[j] = canon.Value{Null: true}
		}
		var fp [16]byte
		fp[0], fp[1], fp[2] = byte(i), byte(i>>8), byte(i>>16)
		sb.append(row, int64(i+2), &fp, 0)
	}
	p.n = n
	rec := p.record()
	defer rec.Release()
	data, err := arrowio.Encode(schema, mem, rec)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFinalizerAddErrors: only an object that cannot be decoded is a
// StagedError (bad input); a failing local write is not, so the activity
// retries it.
func TestFinalizerAddErrors(t *testing.T) {
	prog, err := mapping.Compile(mapping.Canonical().Sources[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		data       func() []byte
		breakWrite bool
		staged     bool
	}{
		{"garbage", func() []byte { return []byte("this is not arrow") }, false, true},
		{"truncated", func() []byte { d := stagedEvents(t, 10); return d[:len(d)/2] }, false, true},
		{"write fails", func() []byte { return stagedEvents(t, batchRows+1) }, true, false},
		{"fine", func() []byte { return stagedEvents(t, 10) }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFinalizer(canon.EventsTable, []*mapping.Program{prog}, t.TempDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer f.abort()
			if tc.breakWrite {
				f.outs[0].f.Close() // writes now fail as on a full disk
			}
			err = f.Add(0, tc.data())
			var staged *StagedError
			var path *fs.PathError
			switch {
			case tc.staged && !errors.As(err, &staged):
				t.Errorf("err = %v, want a *StagedError", err)
			case tc.breakWrite && (errors.As(err, &staged) || !errors.As(err, &path)):
				t.Errorf("err = %v, want a *fs.PathError that is not a *StagedError", err)
			case !tc.staged && !tc.breakWrite && err != nil:
				t.Errorf("err = %v", err)
			}
		})
	}
}
