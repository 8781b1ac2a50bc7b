package activities

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/canon"
)

// TestReadArrowStream decodes IPC files of 0 to 3 record batches through
// the range store's stream and through the scratch file: the same rows.
// A truncated or foreign object is corrupt, not retried.
func TestReadArrowStream(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	store := blob.NewMem()
	acts := &Activities{Store: store, Mem: mem}
	for batches := range 4 {
		var recs []arrow.Record
		for b := range batches {
			eb := canon.NewEventBuilder(mem)
			for i := range 100 * (b + 1) {
				eb.Append(canon.Event{UserID: fmt.Sprintf("u%d", i), Type: canon.View, ItemID: fmt.Sprintf("i%d-%d", b, i), Price: float64(i)})
			}
			recs = append(recs, eb.NewRecord())
			eb.Release()
		}
		if batches == 0 { // a table without rows is one empty batch
			eb := canon.NewEventBuilder(mem)
			recs = append(recs, eb.NewRecord())
			eb.Release()
		}
		data, err := arrowio.Encode(canon.EventSchema, mem, recs...)
		for _, r := range recs {
			r.Release()
		}
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("obj-%d.arrow", batches)
		if err := store.Put(ctx, key, data); err != nil {
			t.Fatal(err)
		}
		read := func(fn func(context.Context, string, *arrow.Schema, func(arrow.Record) error) error) []string {
			var rows []string
			err := fn(ctx, key, canon.EventSchema, func(rec arrow.Record) error {
				rows = append(rows, fmt.Sprintf("batch of %d", rec.NumRows()))
				for c := range rec.NumCols() {
					rows = append(rows, fmt.Sprint(rec.Column(int(c))))
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%d batches: %v", batches, err)
			}
			return rows
		}
		got, want := read(acts.readArrowStream), read(acts.readArrowFile)
		if fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
			t.Errorf("%d batches: stream read %v, file read %v", batches, got, want)
		}
		if err := store.Put(ctx, key+".cut", data[:len(data)-3]); err != nil {
			t.Fatal(err)
		}
		var corrupt *corruptError
		if err := acts.readArrowStream(ctx, key+".cut", canon.EventSchema, func(arrow.Record) error { return nil }); !errors.As(err, &corrupt) {
			t.Errorf("%d batches, truncated: error %v, want corrupt", batches, err)
		}
	}
	mem.AssertSize(t, 0)
}
