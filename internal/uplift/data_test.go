package uplift

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// sameFloats compares float slices bit for bit, NaN equal to NaN.
func sameFloats(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool {
		return math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y)
	})
}

// sameData reports the first field in which a and b differ.
func sameData(a, b *Data) error {
	switch {
	case !slices.Equal(a.IDs, b.IDs):
		return fmt.Errorf("ids %q vs %q", a.IDs, b.IDs)
	case !slices.Equal(a.Arms, b.Arms) || !slices.Equal(a.Features, b.Features):
		return fmt.Errorf("arms %q features %q vs %q %q", a.Arms, a.Features, b.Arms, b.Features)
	case !slices.Equal(a.A, b.A) || !sameFloats(a.Y, b.Y) || !sameFloats(a.P, b.P):
		return fmt.Errorf("arms, outcomes or propensities differ")
	case !slices.Equal(a.Fold, b.Fold) || a.Folds != b.Folds || a.Logged != b.Logged:
		return fmt.Errorf("folds %v/%d logged %v vs %v/%d logged %v", a.Fold, a.Folds, a.Logged, b.Fold, b.Folds, b.Logged)
	case !slices.EqualFunc(a.X, b.X, sameFloats):
		return fmt.Errorf("features differ")
	}
	return nil
}

// TestNewDataEqualsPrepare builds the same rows as a CSV table for
// Prepare and in memory for NewData: the Data must be identical, logged
// propensities or not.
func TestNewDataEqualsPrepare(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 500
	arms := []string{"control", "a", "b"}
	features := []string{"x0", "x1"}
	var ids []string
	var x [][]float64
	var a []int
	var y, p []float64
	var b strings.Builder
	b.WriteString("user_id,arm,y,p,x0,x1\n")
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	for i := range n {
		row := []float64{rng.NormFloat64(), rng.Float64()}
		if i%7 == 0 {
			row[1] = math.NaN()
		}
		arm := rng.IntN(3)
		prop := []float64{0.2, 0.75, 0.05}[arm]
		out := float64(rng.IntN(2))
		ids = append(ids, fmt.Sprintf("u%d", 1000-i))
		x, a, y, p = append(x, row), append(a, arm), append(y, out), append(p, prop)
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s\n", ids[i], arms[arm], f(out), f(prop), f(row[0]), f(row[1]))
	}
	unknown := make([]float64, n)
	for i := range unknown {
		unknown[i] = math.NaN()
	}
	for _, tc := range []struct {
		name    string
		propCol string
		p       []float64
	}{
		{"logged", "p", p},
		{"randomized", "", unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{ArmCol: "arm", Control: "control", OutcomeCol: "y", PropensityCol: tc.propCol, Features: features}
			want, _, err := Prepare(table(t, b.String()), spec, 5, 9)
			if err != nil {
				t.Fatal(err)
			}
			got, err := NewData(ids, arms, features, x, a, y, tc.p, 5, 9)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameData(got, want); err != nil {
				t.Error(err)
			}
			if got.Logged != (tc.propCol != "") || !slices.IsSorted(got.Fold) || got.Fold[0] == got.Fold[n-1] {
				t.Errorf("logged %v, folds %v", got.Logged, got.Fold)
			}
			// Stored folds keep Logged.
			var parts [][]byte
			for k := range got.Folds {
				obj, err := EncodeFold(got, k, memory.DefaultAllocator)
				if err != nil {
					t.Fatal(err)
				}
				parts = append(parts, obj)
			}
			back, err := DecodeFolds(parts, arms, features, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameData(back, got); err != nil {
				t.Errorf("after EncodeFold and DecodeFolds: %v", err)
			}
		})
	}
	// The caller's slices are not reordered.
	for i, id := range ids {
		if id != fmt.Sprintf("u%d", 1000-i) {
			t.Fatalf("NewData reordered its input: ids[%d] = %s", i, id)
		}
	}
}

func TestNewDataErrors(t *testing.T) {
	ids := []string{"1", "2", "3"}
	arms := []string{"c", "t"}
	features := []string{"x"}
	x := [][]float64{{1}, {2}, {3}}
	a := []int{0, 1, 0}
	y := []float64{0, 1, 0}
	p := []float64{0.5, 0.5, 0.5}
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		edit func(ids, arms *[]string, x *[][]float64, a *[]int, y, p *[]float64, folds *int)
		want string
	}{
		{"folds", func(_, _ *[]string, _ *[][]float64, _ *[]int, _, _ *[]float64, f *int) { *f = 1 }, "1 folds"},
		{"one arm", func(_, arms *[]string, _ *[][]float64, _ *[]int, _, _ *[]float64, _ *int) { *arms = []string{"c"} }, "at least one offer"},
		{"arm twice", func(_, arms *[]string, _ *[][]float64, _ *[]int, _, _ *[]float64, _ *int) { *arms = []string{"c", "c"} }, `arm "c" twice`},
		{"lengths", func(_, _ *[]string, _ *[][]float64, _ *[]int, y, _ *[]float64, _ *int) { *y = (*y)[:2] }, "2 outcomes"},
		{"width", func(_, _ *[]string, x *[][]float64, _ *[]int, _, _ *[]float64, _ *int) {
			*x = [][]float64{{1}, {2, 2}, {3}}
		}, "row 1 (id \"2\") has 2 feature values"},
		{"arm index", func(_, _ *[]string, _ *[][]float64, a *[]int, _, _ *[]float64, _ *int) { *a = []int{0, 2, 0} }, "arm 2, want 0..1"},
		{"outcome", func(_, _ *[]string, _ *[][]float64, _ *[]int, y, _ *[]float64, _ *int) { *y = []float64{0, nan, 0} }, "outcome NaN"},
		{"propensity 0", func(_, _ *[]string, _ *[][]float64, _ *[]int, _, p *[]float64, _ *int) { *p = []float64{0.5, 0, 0.5} }, "propensity 0"},
		{"propensity > 1", func(_, _ *[]string, _ *[][]float64, _ *[]int, _, p *[]float64, _ *int) { *p = []float64{1.5, 0.5, 0.5} }, "propensity 1.5"},
		{"some unknown", func(_, _ *[]string, _ *[][]float64, _ *[]int, _, p *[]float64, _ *int) { *p = []float64{0.5, nan, 0.5} }, "1 of 3 propensities unknown"},
		{"infinite feature", func(_, _ *[]string, x *[][]float64, _ *[]int, _, _ *[]float64, _ *int) {
			*x = [][]float64{{1}, {math.Inf(1)}, {3}}
		}, "feature \"x\" is +Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, arms, x, a, y, p, folds := slices.Clone(ids), slices.Clone(arms), slices.Clone(x), slices.Clone(a), slices.Clone(y), slices.Clone(p), 2
			tc.edit(&ids, &arms, &x, &a, &y, &p, &folds)
			if _, err := NewData(ids, arms, features, x, a, y, p, folds, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}
