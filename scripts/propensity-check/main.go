// Command propensity-check exports the propensity training rows of a
// finished run for scripts/propensity_check.py, so that scikit-learn fits
// exactly the users, features, labels and held-out split promoflow used,
// and optionally boosts in process on them (internal/boost; by default
// with the Train stage's settings, workflows.PropensityBoost) to compare
// settings and the two ways of scaling out.
//
//	go run ./scripts/propensity-check --run-dir $STATE/s3/promoflow/runs/<run> --out /tmp/check
//	python3 scripts/propensity_check.py /tmp/check
//	go run ./scripts/propensity-check --run-dir ... --boost --sample 50000,100000,0
//
// It reads the run's train/shard=NNNN.arrow (features before the cutoff,
// label) in shard order and models/propensity/holdout_scores.csv (the
// held-out users and promoflow's scores). Files written: x.f64 (rows ×
// features float64, little endian, row-major, NaN for missing), y.f64,
// hold.u8 (1 for a held-out row), meta.json. With --boost it prints, per
// sample size, one JSON line: rows trained on, trees, seconds, held-out
// AUC, and the histogram passes (leaves whose histogram is counted) that
// per-shard gradient histograms reduced by a workflow would need.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/metrics"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/workflows"
)

func main() {
	runDir := flag.String("run-dir", "", "the run's folder in the bucket (…/promoflow/runs/<run>)")
	out := flag.String("out", "", "where to write the matrix for propensity_check.py ('' for none)")
	doBoost := flag.Bool("boost", false, "boost in process and print the held-out AUC")
	samples := flag.String("sample", "0", "with --boost: training rows to sample, comma separated (0: all)")
	def := workflows.PropensityBoost
	rate := flag.Float64("lr", def.LearningRate, "with --boost: learning rate")
	leaves := flag.Int("leaves", def.MaxLeaves, "with --boost: max leaves")
	minLeaf := flag.Int("min-leaf", def.MinLeaf, "with --boost: min rows per leaf")
	l2 := flag.Float64("l2", def.L2, "with --boost: L2 penalty")
	folds := flag.Int("folds", def.Folds, "with --boost: models averaged, each stopped on its fold, while at most --folds-up-to rows train")
	foldsUpTo := flag.Int("folds-up-to", workflows.PropensityFoldsUpTo, "with --boost: most rows for --folds models (else one)")
	workers := flag.Int("workers", 2, "GOMAXPROCS")
	flag.Parse()
	if *runDir == "" {
		fail(fmt.Errorf("--run-dir is required"))
	}
	runtime.GOMAXPROCS(*workers)

	held, err := holdout(filepath.Join(*runDir, "models/propensity/holdout_scores.csv"))
	if err != nil {
		fail(err)
	}
	shards, err := filepath.Glob(filepath.Join(*runDir, "train/shard=*.arrow"))
	if err != nil || len(shards) == 0 {
		fail(fmt.Errorf("no train shards under %s: %v", *runDir, err))
	}
	sort.Strings(shards)
	var rows []features.Row
	for _, path := range shards {
		data, err := os.ReadFile(path)
		if err != nil {
			fail(err)
		}
		err = arrowio.Each(data, features.TrainSchema, memory.DefaultAllocator, func(rec arrow.Record) error {
			r, err := features.Rows(rec)
			rows = append(rows, r...)
			return err
		})
		if err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
	}
	isHeld := make([]bool, len(rows))
	nHeld := 0
	for i, r := range rows {
		if _, ok := held[r.UserID]; ok {
			isHeld[i] = true
			nHeld++
		}
	}
	if nHeld != len(held) {
		fail(fmt.Errorf("%d held-out users in holdout_scores.csv, %d found in the train shards", len(held), nHeld))
	}
	if *out != "" {
		if err := export(*out, rows, isHeld); err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stderr, "wrote %d rows (%d held out) of %d features to %s\n", len(rows), nHeld, len(features.Names), *out)
	}
	if !*doBoost {
		return
	}
	var tx, hx [][]float64
	var ty []float64
	var hl []bool
	var ids []string
	for i, r := range rows {
		if isHeld[i] {
			hx, hl = append(hx, r.Values), append(hl, r.Label > 0)
		} else {
			tx, ty, ids = append(tx, r.Values), append(ty, r.Label), append(ids, r.UserID)
		}
	}
	for _, s := range strings.Split(*samples, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fail(err)
		}
		x, y := tx, ty
		if n > 0 && n < len(tx) {
			// The sample a bounded gather would take: users by a salted
			// hash, the same whatever the shard count.
			x, y = nil, nil
			share := float64(n) / float64(len(tx))
			for i, id := range ids {
				if shard.Unit("7/boost-sample", id) < share {
					x, y = append(x, tx[i]), append(y, ty[i])
				}
			}
		}
		start := time.Now()
		bins, err := forest.ExactBins(x, len(features.Names), 0)
		if err != nil {
			fail(err)
		}
		m, err := forest.NewMatrix(x, features.Names, bins)
		if err != nil {
			fail(err)
		}
		k := *folds
		if len(y) > *foldsUpTo {
			k = 1
		}
		mdl, err := boost.Fit(m, y, nil, boost.Params{LearningRate: *rate, MaxLeaves: *leaves, MinLeaf: *minLeaf, L2: *l2, Folds: k, Seed: 7})
		if err != nil {
			fail(err)
		}
		secs := time.Since(start).Seconds()
		scores := make([]float64, len(hx))
		mdl.PredictBatch(hx, scores)
		passes := 0
		for _, t := range mdl.Trees {
			passes += (len(t.Nodes) + 1) / 2 // the root, then one child of each split
		}
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"rows": len(y), "folds": k, "trees": len(mdl.Trees), "rounds": mdl.Rounds, "seconds": math.Round(secs*100) / 100,
			"holdout_auc": math.Round(metrics.AUC(scores, hl)*1e4) / 1e4, "n_holdout": len(hx),
			"histogram_passes": passes, "levels": levels(mdl),
		})
	}
}

// levels returns the sum over trees of their depth: the reduce rounds a
// level-by-level distributed grower would need.
func levels(m *boost.Model) int {
	total := 0
	for _, t := range m.Trees {
		depth := make([]int, len(t.Nodes))
		most := 0
		for i, nd := range t.Nodes {
			if nd.Feature >= 0 {
				depth[nd.Left], depth[nd.Right] = depth[i]+1, depth[i]+1
				most = max(most, depth[i]+1)
			}
		}
		total += most
	}
	return total
}

// holdout reads the held-out users of holdout_scores.csv.
func holdout(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	if _, err := r.Read(); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return ids, nil
		}
		if err != nil {
			return nil, err
		}
		ids[rec[0]] = true
	}
}

func export(dir string, rows []features.Row, held []bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, fn func(w *bufio.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if err := fn(w); err != nil {
			f.Close()
			return err
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	err := write("x.f64", func(w *bufio.Writer) error {
		for _, r := range rows {
			if err := binary.Write(w, binary.LittleEndian, r.Values); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = write("y.f64", func(w *bufio.Writer) error {
		for _, r := range rows {
			if err := binary.Write(w, binary.LittleEndian, r.Label); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = write("hold.u8", func(w *bufio.Writer) error {
		for _, h := range held {
			b := byte(0)
			if h {
				b = 1
			}
			if err := w.WriteByte(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	meta, _ := json.Marshal(map[string]any{"rows": len(rows), "features": features.Names})
	return os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "propensity-check:", err)
	os.Exit(1)
}
