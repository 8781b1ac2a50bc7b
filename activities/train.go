package activities

import (
	"bytes"
	"context"
	"fmt"

	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/metrics"
	"github.com/promoflow/promoflow/internal/shard"
)

// HoldoutShare is the share of users kept out of training to evaluate the
// propensity model.
const HoldoutShare = 0.2

// holdout reports whether a user is held out of training, by a hash salted
// with the run's seed: the same users every time, whatever the shard count.
func holdout(seed int64, userID string) bool {
	return shard.Unit(fmt.Sprintf("%d/holdout", seed), userID) < HoldoutShare
}

// TrainTreesInput grows one shard's trees.
type TrainTreesInput struct {
	RunID  string
	Shard  int
	Seed   int64
	Params forest.Params // Seed is derived from the run seed and the shard
}

// TrainTreesOutput counts what the trees were grown on.
type TrainTreesOutput struct {
	Key       string
	Trees     int
	Rows      int64
	Positives int64
}

// TrainTrees grows propensity trees on the shard's training users that are
// not held out (bagging by shard, plus bootstrap within it) and stores them.
func (a *Activities) TrainTrees(ctx context.Context, in TrainTreesInput) (_ TrainTreesOutput, err error) {
	defer final(&err)
	rows, err := a.readFeatures(ctx, layout.Train(in.RunID, in.Shard), features.TrainSchema)
	if err != nil {
		return TrainTreesOutput{}, fmt.Errorf("shard %d: %w", in.Shard, err)
	}
	var x [][]float64
	var y []float64
	out := TrainTreesOutput{Key: layout.Trees(in.RunID, in.Shard)}
	for _, r := range rows {
		if holdout(in.Seed, r.UserID) {
			continue
		}
		x = append(x, r.Values)
		y = append(y, r.Label)
		if r.Label > 0 {
			out.Positives++
		}
	}
	out.Rows = int64(len(y))
	p := in.Params
	p.Seed = uint64(in.Seed)*1_000_003 + uint64(in.Shard)
	var f *forest.Forest
	if len(y) == 0 {
		// An empty shard grows no trees; the forest is the other shards'.
		f = &forest.Forest{Version: 1, Features: features.Names}
	} else if f, err = forest.Train(x, y, features.Names, p); err != nil {
		return TrainTreesOutput{}, fmt.Errorf("shard %d: %w", in.Shard, err)
	}
	out.Trees = len(f.Trees)
	var buf bytes.Buffer
	if err := f.Save(&buf); err != nil {
		return TrainTreesOutput{}, err
	}
	return out, a.Store.Put(ctx, out.Key, buf.Bytes())
}

// CombineForestInput lists the shards' tree objects, in shard order.
type CombineForestInput struct {
	RunID string
	Keys  []string
}

// CombineForestOutput describes the combined forest.
type CombineForestOutput struct {
	Key         string
	Trees       int
	Importances map[string]float64
}

// CombineForest merges the shards' trees, in shard order, into one forest.
func (a *Activities) CombineForest(ctx context.Context, in CombineForestInput) (_ CombineForestOutput, err error) {
	defer final(&err)
	var all *forest.Forest
	for i, key := range in.Keys {
		f, err := a.loadForest(ctx, key)
		if err != nil {
			return CombineForestOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		if all == nil {
			all = f
		} else if err := all.Merge(f); err != nil {
			return CombineForestOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	if all == nil || len(all.Trees) == 0 {
		return CombineForestOutput{}, fmt.Errorf("combine forest: no trees in %d shards", len(in.Keys))
	}
	var buf bytes.Buffer
	if err := all.Save(&buf); err != nil {
		return CombineForestOutput{}, err
	}
	out := CombineForestOutput{Key: layout.Forest(in.RunID), Trees: len(all.Trees), Importances: map[string]float64{}}
	for i, v := range all.Importances() {
		out.Importances[all.Features[i]] = v
	}
	return out, a.Store.Put(ctx, out.Key, buf.Bytes())
}

func (a *Activities) loadForest(ctx context.Context, key string) (*forest.Forest, error) {
	data, err := a.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	f, err := forest.Load(bytes.NewReader(data))
	if err != nil {
		return nil, &corruptError{key: key, err: err}
	}
	return f, nil
}

// EvaluateInput scores one shard's held-out users.
type EvaluateInput struct {
	RunID     string
	Shard     int
	Seed      int64
	ForestKey string
}

// EvaluateForest scores the shard's held-out users and returns a histogram
// of scores by label, from which the workflow reads AUC and log loss.
func (a *Activities) EvaluateForest(ctx context.Context, in EvaluateInput) (_ metrics.ScoreHist, err error) {
	defer final(&err)
	f, err := a.loadForest(ctx, in.ForestKey)
	if err != nil {
		return metrics.ScoreHist{}, err
	}
	rows, err := a.readFeatures(ctx, layout.Train(in.RunID, in.Shard), features.TrainSchema)
	if err != nil {
		return metrics.ScoreHist{}, fmt.Errorf("shard %d: %w", in.Shard, err)
	}
	h := metrics.NewScoreHist(1000)
	for _, r := range rows {
		if holdout(in.Seed, r.UserID) {
			h.Add(f.Predict(r.Values), r.Label > 0)
		}
	}
	return h, nil
}
