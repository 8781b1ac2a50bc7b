package segment

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
)

// vec builds a centroid over features.SegmentNames from named z values.
func vec(m map[string]float64) []float64 {
	v := make([]float64, len(features.SegmentNames))
	for j, n := range features.SegmentNames {
		v[j] = m[n]
	}
	return v
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		name      string
		centroids [][]float64
		want      []string
	}{
		{"the usual cast", [][]float64{
			vec(map[string]float64{"recency_days": -1.2, "frequency": 1.5, "monetary": 1.8, "tenure_days": 0.5}),
			vec(map[string]float64{"tenure_days": -1.6, "frequency": -0.5, "recency_days": 0.3}),
			vec(map[string]float64{"recency_days": 1.0, "frequency": 0.8, "monetary": 0.7}),
			vec(map[string]float64{"recency_days": 0.9, "frequency": -0.9, "views_per_week": -1, "sessions_per_week": -1}),
			vec(map[string]float64{"recency_days": 0.2, "frequency": -0.6, "views_per_week": 1.4, "searches_per_week": 1}),
			vec(map[string]float64{"recency_days": -0.3, "frequency": 0.4, "monetary": 0.2, "tenure_days": 0.6}),
			vec(map[string]float64{"discount_share": 1.5, "avg_order_value": -1, "frequency": -0.1}),
		}, []string{"champions", "new", "at risk", "hibernating", "browsers", "loyal", "bargain hunters"}},
		{"no rule fits: numbered fallbacks", [][]float64{
			vec(map[string]float64{"frequency": -0.2, "tenure_days": 0.1}),
			vec(map[string]float64{"frequency": -0.3, "tenure_days": 0.2}),
		}, []string{"occasional", "occasional 2"}},
		{"one name per segment, best fit wins", [][]float64{
			vec(map[string]float64{"recency_days": -0.5, "frequency": 0.5, "monetary": 0.5}),
			vec(map[string]float64{"recency_days": -1, "frequency": 1.5, "monetary": 2}),
		}, []string{"loyal", "champions"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Names(features.SegmentNames, tc.centroids); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Names = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCentredRanks(t *testing.T) {
	for _, tc := range []struct{ in, want []float64 }{
		{[]float64{3, 1, 2}, []float64{1, -1, 0}},
		{[]float64{5, 5, 1, 9}, []float64{0, 0, -1, 1}},
		{[]float64{1, 2, 3, 4, 5}, []float64{-1, -0.5, 0, 0.5, 1}},
		{[]float64{2, 2}, []float64{0, 0}},
		{[]float64{7}, []float64{0}},
	} {
		if got := centredRanks(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("centredRanks(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestTraits(t *testing.T) {
	got := Traits([]string{"a", "b", "c", "d"}, []float64{0.2, -1.26, 0.7, 2}, 2)
	if want := []string{"high d (+2.0 sd)", "low b (-1.3 sd)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("traits %q, want %q", got, want)
	}
}

func TestSumsProfiles(t *testing.T) {
	raw := func(m map[string]float64) []float64 {
		v := make([]float64, len(features.Names))
		for n, x := range m {
			v[features.Index(n)] = x
		}
		return v
	}
	s := NewSums(2)
	s.Add(0, raw(map[string]float64{"monetary": 100}))
	s.Add(0, raw(map[string]float64{"monetary": 300}))
	o := NewSums(2)
	o.Add(1, raw(map[string]float64{"frequency": 4, "interest_03": 0.5}))
	if err := s.Merge(o); err != nil {
		t.Fatal(err)
	}
	ps := s.Profiles([]string{"a", "b"})
	if ps[0].Size != 2 || ps[0].Mean["monetary"] != 200 || ps[1].Size != 1 || ps[1].Mean["frequency"] != 4 || ps[1].Name != "b" {
		t.Errorf("profiles = %+v", ps)
	}
	if math.Abs(ps[0].Share-2.0/3) > 1e-12 {
		t.Errorf("share %v, want 2/3", ps[0].Share)
	}
	if _, ok := ps[1].Mean["interest_03"]; ok || len(ps[1].Mean) != len(features.Behaviour) {
		t.Errorf("profile means %v: want the behaviour features only", ps[1].Mean)
	}
	if err := s.Merge(NewSums(3)); err == nil {
		t.Error("merge of 3 segments into 2 succeeded")
	}
}

// TestProfileJSON pins the summary's segment shape that marketers' tools
// read: segments: [{id, name, size, profile, top_terms}].
func TestProfileJSON(t *testing.T) {
	s := NewSums(1)
	v := make([]float64, len(features.Names))
	v[features.Index("monetary")] = 250
	s.Add(0, v)
	p := s.Profiles([]string{"champions"})[0]
	p.TopTerms = []Term{{Term: "jumbo bag", Weight: 0.2, Lift: 1.5}}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ID       *int               `json:"id"`
		Name     string             `json:"name"`
		Size     int64              `json:"size"`
		Profile  map[string]float64 `json:"profile"`
		TopTerms []map[string]any   `json:"top_terms"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID == nil || *got.ID != 0 || got.Name != "champions" || got.Size != 1 || got.Profile["monetary"] != 250 ||
		len(got.Profile) != len(features.Behaviour) || len(got.TopTerms) != 1 || got.TopTerms[0]["term"] != "jumbo bag" {
		t.Errorf("segment JSON %s", data)
	}
}

func TestTermSumsTop(t *testing.T) {
	// Segment 0 (2 users) loves candles; everyone likes hearts.
	a, b := NewTermSums(2), NewTermSums(2)
	a.Add(0, []interest.Term{{Term: "candle", Weight: 0.8}, {Term: "heart", Weight: 0.6}}, []interest.Term{{Term: "home", Weight: 1}})
	a.Add(0, []interest.Term{{Term: "candle", Weight: 0.6}, {Term: "heart", Weight: 0.6}}, []interest.Term{{Term: "home", Weight: 0.5}, {Term: "gifts", Weight: 0.5}})
	b.Add(1, []interest.Term{{Term: "heart", Weight: 0.9}, {Term: "bag", Weight: 0.4}}, nil)
	b.Add(1, []interest.Term{{Term: "heart", Weight: 0.7}}, nil)
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	terms, cats := a.Top(2)
	// candle: mean 0.7 in segment 0, 1.4/4 = 0.35 overall → lift 2.
	if terms[0][0].Term != "candle" || math.Abs(terms[0][0].Weight-0.7) > 1e-12 || math.Abs(terms[0][0].Lift-2) > 1e-12 {
		t.Errorf("segment 0 top terms %+v, want candle first (weight 0.7, lift 2)", terms[0])
	}
	if terms[1][0].Term != "heart" || len(terms[1]) != 2 {
		t.Errorf("segment 1 top terms %+v, want heart first", terms[1])
	}
	if cats[0][0].Term != "home" || cats[1] != nil {
		t.Errorf("categories %+v", cats)
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := a.Record(mem)
	back := NewTermSums(2)
	if err := ReadTermSums(rec, &back); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if !reflect.DeepEqual(back, a) {
		t.Errorf("round trip %+v, want %+v", back, a)
	}
	if err := a.Merge(NewTermSums(3)); err == nil {
		t.Error("merge of 3 segments into 2 succeeded")
	}
}
