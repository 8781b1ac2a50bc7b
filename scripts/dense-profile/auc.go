package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/dbscan"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/metrics"
	"github.com/promoflow/promoflow/internal/shard"
)

// compareAUC trains the propensity booster on the run's training table
// (train/, features as of the cutoff) with and without the outlier flag
// as a feature and prints both held-out AUCs. The flag of a training row
// is the run's DBSCAN model's assignment of its features as of the cutoff,
// standardized by a scaler of the training rows (the run's scaler is not
// stored); the holdout is the pipeline's (20% by the seed's hash).
func compareAUC(dir string, seed int64) error {
	data, err := os.ReadFile(filepath.Join(dir, "models/dbscan/model.gob"))
	if err != nil {
		return err
	}
	model, err := dbscan.Decode(data)
	if err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "train/shard=*.arrow"))
	var rows []features.Row
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		err = arrowio.Each(b, features.TrainSchema, memory.NewGoAllocator(), func(rec arrow.Record) error {
			r, err := features.Rows(rec)
			rows = append(rows, r...)
			return err
		})
		if err != nil {
			return err
		}
	}
	if len(rows) == 0 {
		return fmt.Errorf("%s: no training rows", dir)
	}
	slices.SortFunc(rows, func(a, b features.Row) int { return cmpStr(a.UserID, b.UserID) })
	m := features.NewMoments(len(features.Names))
	raw := make([][]float64, len(rows))
	for i, r := range rows {
		raw[i] = r.Values
		m.Add(features.Transform(r.Values))
	}
	sc, err := features.NewScaler(features.SegmentNames, m, features.QuantilesOf(raw))
	if err != nil {
		return err
	}
	var trainX, testX [][]float64
	var trainY []float64
	var testY []bool
	var outliers int
	for _, r := range rows {
		l, _ := model.Assign(sc.Apply(r.Values))
		flag := 0.0
		if l == dbscan.Noise {
			flag, outliers = 1, outliers+1
		}
		x := append(slices.Clone(r.Values), flag)
		if shard.Unit(fmt.Sprintf("%d/holdout", seed), r.UserID) < 0.2 {
			testX, testY = append(testX, x), append(testY, r.Label == 1)
		} else {
			trainX, trainY = append(trainX, x), append(trainY, r.Label)
		}
	}
	names := append(slices.Clone(features.Names), "outlier")
	for _, withFlag := range []bool{false, true} {
		d := len(features.Names)
		if withFlag {
			d++
		}
		cut := func(x [][]float64) [][]float64 {
			out := make([][]float64, len(x))
			for i := range x {
				out[i] = x[i][:d]
			}
			return out
		}
		bins, err := forest.ExactBins(cut(trainX), d, 255)
		if err != nil {
			return err
		}
		mat, err := forest.NewMatrix(cut(trainX), names[:d], bins)
		if err != nil {
			return err
		}
		bm, err := boost.Fit(mat, trainY, nil, boost.Params{Seed: uint64(seed)})
		if err != nil {
			return err
		}
		scores := make([]float64, len(testX))
		bm.PredictBatch(cut(testX), scores)
		emit(map[string]any{"propensity_with_outlier_flag": withFlag, "train_rows": len(trainX), "holdout_rows": len(testX),
			"training_outliers": outliers, "holdout_auc": metrics.AUC(scores, testY)})
	}
	return nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
