// Command bench-forest compares promoflow's histogram random forest with
// scikit-learn's RandomForestClassifier on the same generated matrix: it
// generates the matrix (training rows and held-out rows), writes it for
// sklearn_bench.py, trains a forest with the same settings, and prints the
// training and prediction (of the held-out rows) wall times and the
// held-out AUC as JSON.
//
//	go run ./scripts/bench-forest --rows 1000000 --holdout 200000 --trees 100 --dir /tmp/bench-forest
//	/usr/bin/python3 scripts/bench-forest/sklearn_bench.py /tmp/bench-forest
//
// The data: 20 features uniform on [0, 1); the label is Bernoulli of a
// logistic function of an interaction-heavy combination of the first 8;
// the other 12 are noise. Files: x.f64 (rows × 20 float64, little endian,
// row-major), y.f64 (labels), the same for the held-out rows (xt.f64,
// yt.f64), and meta.json.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/metrics"
)

const features = 20

// row draws one row and its label.
func row(rng *rand.Rand, x []float64) float64 {
	for j := range x {
		x[j] = rng.Float64()
	}
	a, b, c, d := 2*x[0]-1, 2*x[1]-1, 2*x[2]-1, 2*x[3]-1
	g := 2*math.Sin(3*a) + 3*b*c + 2*(d*d-1.0/3) + 1.5*(x[4]-0.5) - 1.5*(x[5]-0.5) + 2*x[6]*x[7] - 0.5
	if rng.Float64() < 1/(1+math.Exp(-g)) {
		return 1
	}
	return 0
}

func generate(n int, seed uint64) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 2026))
	x := make([][]float64, n)
	y := make([]float64, n)
	flat := make([]float64, n*features)
	for i := range x {
		x[i] = flat[i*features : (i+1)*features]
		y[i] = row(rng, x[i])
	}
	return x, y
}

func write(path string, rows [][]float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, r := range rows {
		if err := binary.Write(w, binary.LittleEndian, r); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func main() {
	rows := flag.Int("rows", 1_000_000, "training rows")
	holdout := flag.Int("holdout", 200_000, "held-out rows")
	trees := flag.Int("trees", 100, "trees")
	depth := flag.Int("depth", 12, "max depth (sklearn max_depth)")
	minLeaf := flag.Int("min-leaf", 20, "min rows per leaf (sklearn min_samples_leaf)")
	workers := flag.Int("workers", 2, "goroutines (GOMAXPROCS), as sklearn n_jobs")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "bench-forest"), "where to write the matrix for sklearn_bench.py")
	seed := flag.Uint64("seed", 1, "data seed")
	flag.Parse()

	x, y := generate(*rows, *seed)
	xt, yt := generate(*holdout, *seed+1)
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			fail(err)
		}
		ys := make([][]float64, len(y))
		for i := range y {
			ys[i] = y[i : i+1]
		}
		yts := make([][]float64, len(yt))
		for i := range yt {
			yts[i] = yt[i : i+1]
		}
		for name, m := range map[string][][]float64{"x.f64": x, "y.f64": ys, "xt.f64": xt, "yt.f64": yts} {
			if err := write(filepath.Join(*dir, name), m); err != nil {
				fail(err)
			}
		}
		meta, _ := json.Marshal(map[string]any{"rows": *rows, "holdout": *holdout, "features": features,
			"trees": *trees, "max_depth": *depth, "min_samples_leaf": *minLeaf, "n_jobs": *workers})
		if err := os.WriteFile(filepath.Join(*dir, "meta.json"), meta, 0o644); err != nil {
			fail(err)
		}
	}

	runtime.GOMAXPROCS(*workers)
	names := make([]string, features)
	for i := range names {
		names[i] = fmt.Sprintf("x%d", i)
	}
	p := forest.Params{Trees: *trees, MaxDepth: *depth, MinLeaf: *minLeaf, Bootstrap: true, Seed: 7}
	runtime.GC()
	start := time.Now()
	f, err := forest.Train(x, y, names, p) // binning included, as sklearn's fit sorts
	if err != nil {
		fail(err)
	}
	train := time.Since(start)
	start = time.Now()
	scores := make([]float64, len(xt))
	f.PredictBatch(xt, scores) // GOMAXPROCS goroutines, as sklearn's n_jobs
	predict := time.Since(start)
	labels := make([]bool, len(xt))
	for i := range labels {
		labels[i] = yt[i] == 1
	}
	out := map[string]any{
		"impl": "promoflow/internal/forest", "rows": *rows, "holdout": *holdout, "features": features,
		"trees": *trees, "max_depth": *depth, "min_samples_leaf": *minLeaf, "workers": *workers,
		"train_seconds": round(train.Seconds()), "predict_seconds": round(predict.Seconds()),
		"holdout_auc": round(metrics.AUC(scores, labels)),
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

func round(v float64) float64 { return math.Round(v*1e4) / 1e4 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-forest:", err)
	os.Exit(1)
}
