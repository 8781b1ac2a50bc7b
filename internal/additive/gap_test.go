package additive

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/policy"
)

// TestGapHistories fits the additive effects, cross-fitted over each
// history's folds, on the histories TestPolicyVsOracle learns from and
// logs the true value of the policy at a 30% budget as a share of the
// oracle's, at DefaultKnots and at each resolution alone. It needs
// PROMOFLOW_ADDITIVE_GAP set to a folder with uplift's TestDumpGenerated
// files (s7.csv, s8.csv, s9.csv) and scripts/uplift-gap/outcome.py's
// (m7.txt ...: the cross-fitted outcome m(x) of scikit-learn's gradient
// boosting, the one the Python experiments use), so that the figures
// compare with scripts/uplift-gap's; see its README. The arms'
// propensities are their shares (the histories are randomized).
func TestGapHistories(t *testing.T) {
	dir := os.Getenv("PROMOFLOW_ADDITIVE_GAP")
	if dir == "" {
		t.Skip("PROMOFLOW_ADDITIVE_GAP not set")
	}
	seeds := []int{7, 8, 9}
	hs := make([]*gapHistory, len(seeds))
	for j, s := range seeds {
		var err error
		if hs[j], err = readGapHistory(dir, s); err != nil {
			t.Fatal(err)
		}
	}
	variants := [][]int{DefaultKnots}
	for _, k := range DefaultKnots {
		variants = append(variants, []int{k})
	}
	for _, knots := range variants {
		var shares []string
		var sum float64
		for _, h := range hs {
			tau, err := h.crossFit(Params{Knots: knots})
			if err != nil {
				t.Fatal(err)
			}
			v := h.value(tau) / h.value(h.truth)
			sum += v
			shares = append(shares, fmt.Sprintf("%.3f", v))
		}
		t.Logf("knots %v: share of the oracle at 30%% %s, mean %.3f", knots, strings.Join(shares, " / "), sum/float64(len(hs)))
	}
}

// gapHistory is one dumped history: features, arms, folds, true effects
// and the R-loss residuals from the dumped m(x).
type gapHistory struct {
	features []string
	x        [][]float64
	fold     []int
	truth    [][]float64
	rt       [][]float64
	ry       []float64
}

func readGapHistory(dir string, seed int) (*gapHistory, error) {
	name := filepath.Join(dir, fmt.Sprintf("s%d.csv", seed))
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	mData, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("m%d.txt", seed)))
	if err != nil {
		return nil, err
	}
	m := strings.Fields(string(mData))
	head := recs[0]
	col := slices.Index(head, "A")
	if col < 0 || len(m) != len(recs)-1 {
		return nil, fmt.Errorf("%s: no column A, or %d outcome predictions for %d rows", name, len(m), len(recs)-1)
	}
	arms := 0
	for _, c := range head {
		if strings.HasPrefix(c, "truth") {
			arms++
		}
	}
	h := &gapHistory{features: head[:col]}
	num := func(s string, line int) float64 {
		v, perr := strconv.ParseFloat(s, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("%s:%d: %w", name, line, perr)
		}
		return v
	}
	a := make([]int, len(recs)-1)
	share := make([]float64, arms+1)
	for i, r := range recs[1:] {
		row := make([]float64, col)
		for j := range row {
			row[j] = num(r[j], i+2)
		}
		h.x = append(h.x, row)
		a[i] = int(num(r[col], i+2))
		share[a[i]]++
		h.ry = append(h.ry, num(r[col+1], i+2)-num(m[i], i+1))
		h.fold = append(h.fold, int(num(r[col+2], i+2)))
		tr := make([]float64, arms)
		for k := range tr {
			tr[k] = num(r[col+3+k], i+2)
		}
		h.truth = append(h.truth, tr)
	}
	if err != nil {
		return nil, err
	}
	for i := range a {
		w := make([]float64, arms)
		for k := range w {
			w[k] = -share[k+1] / float64(len(a))
			if a[i] == k+1 {
				w[k]++
			}
		}
		h.rt = append(h.rt, w)
	}
	return h, nil
}

// crossFit returns each row's effects from a fit on the other folds.
func (h *gapHistory) crossFit(p Params) ([][]float64, error) {
	tau := make([][]float64, len(h.x))
	for k := range slices.Max(h.fold) + 1 {
		var train, test []int
		for i, f := range h.fold {
			if f == k {
				test = append(test, i)
			} else {
				train = append(train, i)
			}
		}
		mds, err := Fit(h.x, h.features, train, h.fold, h.rt, h.ry, p)
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", k, err)
		}
		xs := make([][]float64, len(test))
		for j, i := range test {
			xs[j] = h.x[i]
			tau[i] = make([]float64, len(mds))
		}
		out := make([]float64, len(test))
		for a, md := range mds {
			md.PredictBatch(xs, out)
			for j, i := range test {
				tau[i][a] = out[j]
			}
		}
	}
	return tau, nil
}

// value is the true incremental outcome per user of policy.Assign's
// policy from tau at a 30% budget.
func (h *gapHistory) value(tau [][]float64) float64 {
	var s float64
	for i, a := range policy.Assign(tau, 0.3) {
		if a > 0 {
			s += h.truth[i][a-1]
		}
	}
	return s / float64(len(tau))
}
