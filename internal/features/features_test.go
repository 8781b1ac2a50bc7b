package features

import (
	"math"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/promoflow/promoflow/internal/canon"
)

var day0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d float64) time.Time { return day0.Add(time.Duration(d * 24 * float64(time.Hour))) }

func TestBuilderValues(t *testing.T) {
	cutoff, end := at(30), at(40)
	events := []canon.Event{
		{UserID: "a", TS: at(0), Type: canon.View, Category: "shoes"},
		{UserID: "a", TS: at(1), Type: canon.Search, Text: "boots"},
		{UserID: "a", TS: at(2), Type: canon.Cart, Category: "shoes"},
		{UserID: "a", TS: at(2), Type: canon.Purchase, OrderID: "o1", ItemID: "s1", Category: "shoes", Quantity: 2, Price: 10},
		{UserID: "a", TS: at(2), Type: canon.Purchase, OrderID: "o1", ItemID: "b1", Category: "bags", Quantity: 1, Price: 30},
		{UserID: "a", TS: at(5), Type: canon.Return, ItemID: "s1", Category: "shoes", Quantity: 1, Price: 10},
		{UserID: "a", TS: at(20), Type: canon.Purchase, OrderID: "o2", Category: "shoes", Quantity: 1, Price: 40},
		{UserID: "a", TS: at(35), Type: canon.Purchase, OrderID: "o3", Category: "home", Quantity: 1, Price: 100}, // label window
		{UserID: "b", TS: at(10), Type: canon.View, Category: "home"},
		{UserID: "c", TS: at(33), Type: canon.View},                                             // new after cutoff
		{UserID: "a", TS: at(50), Type: canon.Purchase, OrderID: "o4", Quantity: 1, Price: 1e6}, // after end: ignored
	}
	b := NewBuilder(cutoff, end, end)
	for _, e := range events {
		b.Add(e)
	}
	train := b.Train()
	if len(train) != 2 || train[0].UserID != "a" || train[1].UserID != "b" {
		t.Fatalf("train rows = %+v", train)
	}
	// a as of day 30: orders o1,o2; bought 2*10+30+40 = 90, returned 10 → 80.
	want := []float64{10, 2, 80, 40, 30, 1, 1, 1, 1.0 / 3, 2}
	for i, w := range want {
		if math.Abs(train[0].Values[i]-w) > 1e-9 {
			t.Errorf("train a %s = %v, want %v", Names[i], train[0].Values[i], w)
		}
	}
	if train[0].Label != 1 || train[1].Label != 0 {
		t.Errorf("labels a=%v b=%v, want 1, 0", train[0].Label, train[1].Label)
	}
	if train[1].Values[0] != MaxRecency || train[1].Values[1] != 0 || train[1].Values[3] != 0 {
		t.Errorf("non-buyer b = %v", train[1].Values)
	}
	score := b.Score()
	if len(score) != 3 {
		t.Fatalf("score rows = %d, want 3 (a, b, c)", len(score))
	}
	// a as of day 40: last purchase day 35, orders o1,o2,o3, net 180, 3 categories.
	if got := score[0].Values; got[0] != 5 || got[1] != 3 || got[2] != 180 || got[9] != 3 || got[4] != 40 {
		t.Errorf("score a = %v", got)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rows := []Row{
		{UserID: "a", Values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 0.5, 2}, Label: 1},
		{UserID: "b", Values: []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, withLabel := range []bool{false, true} {
		rec := Record(rows, withLabel, mem)
		got, err := Rows(rec)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			wantLabel := rows[i].Label
			if !withLabel {
				wantLabel = 0
			}
			if got[i].UserID != rows[i].UserID || got[i].Label != wantLabel {
				t.Errorf("withLabel=%v row %d = %+v", withLabel, i, got[i])
			}
			for j := range Names {
				if got[i].Values[j] != rows[i].Values[j] {
					t.Errorf("row %d %s = %v, want %v", i, Names[j], got[i].Values[j], rows[i].Values[j])
				}
			}
		}
	}
}

func TestMomentsScaler(t *testing.T) {
	data := [][]float64{{0, 1}, {1, 1}, {3, 1}, {7, 1}}
	whole := NewMoments(2)
	a, b := NewMoments(2), NewMoments(2)
	for i, raw := range data {
		x := Transform(raw)
		whole.Add(x)
		if i < 2 {
			a.Add(x)
		} else {
			b.Add(x)
		}
	}
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if a.N != whole.N || math.Abs(a.Sum[0]-whole.Sum[0]) > 1e-12 || math.Abs(a.SumSq[0]-whole.SumSq[0]) > 1e-12 {
		t.Errorf("merged %+v != whole %+v", a, whole)
	}
	s := whole.Scaler()
	// log1p of 0,1,3,7 = 0, ln2, ln4, ln8 = k*ln2 for k = 0..3: mean 1.5 ln2, std sqrt(1.25) ln2.
	if math.Abs(s.Mean[0]-1.5*math.Ln2) > 1e-12 || math.Abs(s.Std[0]-math.Sqrt(1.25)*math.Ln2) > 1e-12 {
		t.Errorf("scaler %+v", s)
	}
	if s.Std[1] != 1 || s.Apply([]float64{0, 1})[1] != 0 {
		t.Errorf("constant feature: std %v, scaled %v", s.Std[1], s.Apply([]float64{0, 1}))
	}
	if err := a.Merge(NewMoments(3)); err == nil {
		t.Error("merge of 3 features into 2 succeeded")
	}
}
