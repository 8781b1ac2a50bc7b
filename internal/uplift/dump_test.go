package uplift

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/synth"
)

// TestDumpGenerated writes, with PROMOFLOW_UPLIFT_DUMP set to a folder,
// TestPolicyVsOracle's histories (seeds 7, 8, 9) as s<seed>.csv: each
// user's features, arm (A), outcome (Y) and fold, the true effect of each
// offer (truth0..) and every learner's cross-fitted effects (<learner>0..),
// from Analyze with the test's Config. scripts/uplift-gap reads them to
// compare learners of other kinds on the same users and folds.
func TestDumpGenerated(t *testing.T) {
	dir := os.Getenv("PROMOFLOW_UPLIFT_DUMP")
	if dir == "" {
		t.Skip("PROMOFLOW_UPLIFT_DUMP not set")
	}
	for _, seed := range []int64{7, 8, 9} {
		gen := synth.Config{Users: 50000, Seed: seed}
		d, truth := synthHistory(t, synth.HistoryConfig{Config: gen}, Spec{})
		res, err := Analyze(d, Config{Seed: 1, Trees: 50, Bootstrap: 100, Budgets: []float64{0.3}})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range res.Report.Learners {
			names = append(names, l.Name)
		}
		var b strings.Builder
		b.WriteString(strings.Join(d.Features, ",") + ",A,Y,fold")
		for a := range d.Arms[1:] {
			fmt.Fprintf(&b, ",truth%d", a)
		}
		for _, n := range names {
			for a := range d.Arms[1:] {
				fmt.Fprintf(&b, ",%s%d", n, a)
			}
		}
		b.WriteString("\n")
		for i := range d.A {
			for _, v := range d.X[i] {
				b.WriteString(strconv.FormatFloat(v, 'g', -1, 64) + ",")
			}
			fmt.Fprintf(&b, "%d,%g,%d", d.A[i], d.Y[i], d.Fold[i])
			for _, v := range truth[i] {
				fmt.Fprintf(&b, ",%g", v)
			}
			for _, n := range names {
				for _, v := range res.Tau[n][i] {
					fmt.Fprintf(&b, ",%g", v)
				}
			}
			b.WriteString("\n")
		}
		path := filepath.Join(dir, fmt.Sprintf("s%d.csv", seed))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("seed %d: %s, arms %v, learners %v", seed, path, d.Arms, names)
	}
}
