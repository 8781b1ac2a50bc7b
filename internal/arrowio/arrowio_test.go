package arrowio

import (
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

var schema = arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)

func batch(mem memory.Allocator, vals ...int64) arrow.Record {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues(vals, nil)
	return b.NewRecord()
}

func TestRoundTripNoLeaks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r1, r2 := batch(mem, 1, 2, 3), batch(mem, 4)
	data, err := Encode(schema, mem, r1, r2)
	r1.Release()
	r2.Release()
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	var batches int
	err = Each(data, schema, mem, func(rec arrow.Record) error {
		batches++
		got = append(got, rec.Column(0).(*array.Int64).Int64Values()...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if batches != 2 || len(got) != 4 || got[0] != 1 || got[3] != 4 {
		t.Errorf("read %d batches %v, want 2 batches [1 2 3 4]", batches, got)
	}
}

func TestEachRejects(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := batch(mem, 1)
	data, err := Encode(schema, mem, rec)
	rec.Release()
	if err != nil {
		t.Fatal(err)
	}
	other := arrow.NewSchema([]arrow.Field{{Name: "y", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for _, tc := range []struct {
		name string
		data []byte
		want *arrow.Schema
		msg  string
	}{
		{"wrong schema", data, other, "schema"},
		{"truncated", data[:len(data)/2], schema, "arrow ipc"},
		{"not arrow", []byte("user_id,ts\n"), schema, "arrow ipc"},
	} {
		err := Each(tc.data, tc.want, mem, func(arrow.Record) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.msg)
		}
	}
}
