package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/promoflow/promoflow/internal/boost"
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

// SketchInput asks for a block of shards' feature sketches.
type SketchInput struct {
	RunID string
	Block shard.Block
	K     int // points per sketch; 0 means forest.DefaultSketchSize
}

// SketchTrain summarises the distribution of every feature over the shard's
// training users in a mergeable quantile sketch, one per feature in
// features.Names order. The workflow merges the shards' sketches into the
// global bins every shard's trees split on.
func (a *Activities) SketchTrain(ctx context.Context, in SketchInput) (_ []*forest.Sketch, err error) {
	defer final(&err)
	return a.sketch(ctx, in)
}

func (a *Activities) sketch(ctx context.Context, in SketchInput) ([]*forest.Sketch, error) {
	sk := newTrainSketch(in.K)
	// The block's shards in shard order feed one sketch per feature: a
	// block of one shard sketches exactly as a shard did.
	for i := in.Block.From; i < in.Block.To; i++ {
		rows, err := a.readFeatures(ctx, layout.Train(in.RunID, i), features.TrainSchema)
		if err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
		for _, r := range rows {
			sk.add(r.Values)
		}
	}
	return sk.done(), nil
}

// trainSketch is a block's sketches of the training features, one per
// feature in features.Names order, fed the rows in shard order.
type trainSketch []*forest.Sketch

func newTrainSketch(k int) trainSketch {
	sk := make(trainSketch, len(features.Names))
	for f := range sk {
		sk[f] = forest.NewSketch(k)
	}
	return sk
}

func (sk trainSketch) add(values []float64) {
	for f, v := range values {
		sk[f].Add(v)
	}
}

// done summarises what is buffered, before the sketches are sent.
func (sk trainSketch) done() []*forest.Sketch {
	for _, s := range sk {
		s.Total()
	}
	return sk
}

// putTrainSketch stores a block's sketches where MergeBins reads them
// (layout.TrainSketch at the block's first shard).
func (a *Activities) putTrainSketch(ctx context.Context, run string, b shard.Block, sk []*forest.Sketch) error {
	var buf bytes.Buffer
	if err := jsonEncode(&buf, sk); err != nil {
		return err
	}
	return a.Store.Put(ctx, layout.TrainSketch(run, b.From), buf.Bytes())
}

// SketchShard is SketchTrain writing the block's sketches to the bucket
// (layout.TrainSketch at the block's first shard) instead of returning
// them, which MergeBins reads: the workflow's history carries keys, not
// about 264 KB per shard. The features pass writes them itself when asked
// (FeaturesInput.SketchTrain), as it writes the training rows.
func (a *Activities) SketchShard(ctx context.Context, in SketchInput) (err error) {
	defer final(&err)
	sk, err := a.sketch(ctx, in)
	if err != nil {
		return err
	}
	return a.putTrainSketch(ctx, in.RunID, in.Block, sk)
}

// MergeBinsInput names the shard blocks whose sketches make the bins.
type MergeBinsInput struct {
	RunID  string
	Shards int
	// ShardBlocks is how the shards were cut into blocks (shard.Blocks);
	// 0 is a block per shard.
	ShardBlocks int
	MaxBins     int // forest.Params.MaxBins
}

// MergeBinsOutput is where the bins are and the most bins of any feature.
type MergeBinsOutput struct {
	Key  string
	Bins int
}

// MergeBins reads every block's sketches (SketchShard), merges them in
// shard order into the global bins (forest.MergeSketches) and stores them
// at layout.TrainBins.
func (a *Activities) MergeBins(ctx context.Context, in MergeBinsInput) (_ MergeBinsOutput, err error) {
	defer final(&err)
	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	sketches := make([][]*forest.Sketch, len(blocks))
	for i, b := range blocks {
		key := layout.TrainSketch(in.RunID, b.From)
		data, err := a.Store.Get(ctx, key)
		if err != nil {
			return MergeBinsOutput{}, fmt.Errorf("shards %d..%d: %w", b.From, b.To-1, err)
		}
		if err := json.Unmarshal(data, &sketches[i]); err != nil {
			return MergeBinsOutput{}, &corruptError{key: key, err: err}
		}
	}
	bins, err := forest.MergeSketches(sketches, in.MaxBins)
	if err != nil {
		return MergeBinsOutput{}, err
	}
	out := MergeBinsOutput{Key: layout.TrainBins(in.RunID)}
	for _, c := range bins.Cuts {
		out.Bins = max(out.Bins, len(c)+1)
	}
	var buf bytes.Buffer
	if err := jsonEncode(&buf, bins); err != nil {
		return MergeBinsOutput{}, err
	}
	return out, a.Store.Put(ctx, out.Key, buf.Bytes())
}

// TrainTreesInput grows one block of shards' trees.
type TrainTreesInput struct {
	RunID  string
	Block  shard.Block
	Seed   int64
	Params forest.Params // Seed is derived from the run seed and the block's first shard
	Bins   *forest.Bins  // global bins; nil means BinsKey's, or the shard's own
	// BinsKey is where MergeBins stored the global bins.
	BinsKey string
}

// TrainTreesOutput counts what the trees were grown on.
type TrainTreesOutput struct {
	Key       string
	Trees     int
	Rows      int64
	Positives int64
	OOB       forest.OOB // the shard's out-of-bag estimate, over its trees
}

// TrainTrees grows propensity trees on the block's training users that are
// not held out (bagging by block, plus bootstrap within it) and stores them.
func (a *Activities) TrainTrees(ctx context.Context, in TrainTreesInput) (_ TrainTreesOutput, err error) {
	defer final(&err)
	var rows []features.Row
	for i := in.Block.From; i < in.Block.To; i++ {
		r, err := a.readFeatures(ctx, layout.Train(in.RunID, i), features.TrainSchema)
		if err != nil {
			return TrainTreesOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		rows = append(rows, r...)
	}
	bins := in.Bins
	if bins == nil && in.BinsKey != "" {
		data, err := a.Store.Get(ctx, in.BinsKey)
		if err != nil {
			return TrainTreesOutput{}, err
		}
		if err := json.Unmarshal(data, &bins); err != nil {
			return TrainTreesOutput{}, &corruptError{key: in.BinsKey, err: err}
		}
	}
	var x [][]float64
	var y []float64
	out := TrainTreesOutput{Key: layout.Trees(in.RunID, in.Block.From)}
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
	p.Seed = uint64(in.Seed)*1_000_003 + uint64(in.Block.From)
	p.OOB = true
	var f *forest.Forest
	if len(y) == 0 {
		// An empty shard grows no trees; the forest is the other shards'.
		f = &forest.Forest{Version: forest.Version, Task: forest.Classification, Features: features.Names}
	} else if f, err = a.fitShard(x, y, bins, p); err != nil {
		return TrainTreesOutput{}, fmt.Errorf("shards %d..%d: %w", in.Block.From, in.Block.To-1, err)
	}
	out.Trees = len(f.Trees)
	if f.OOB != nil {
		out.OOB = *f.OOB
	}
	var buf bytes.Buffer
	if len(f.Trees) == 0 {
		// Save refuses a forest without trees; store the empty shard's
		// forest as it is, CombineForest skips it.
		err = jsonEncode(&buf, f)
	} else {
		err = f.Save(&buf)
	}
	if err != nil {
		return TrainTreesOutput{}, err
	}
	return out, a.Store.Put(ctx, out.Key, buf.Bytes())
}

// fitShard bins x with the global bins (or its own) and grows the trees.
func (a *Activities) fitShard(x [][]float64, y []float64, bins *forest.Bins, p forest.Params) (*forest.Forest, error) {
	if bins == nil {
		return forest.Train(x, y, features.Names, p)
	}
	m, err := forest.NewMatrix(x, features.Names, bins)
	if err != nil {
		return nil, &corruptError{key: "bins", err: err}
	}
	return forest.Fit(m, y, nil, p)
}

// TrainBoostInput trains the boosted propensity model on every shard's
// training users.
type TrainBoostInput struct {
	RunID   string
	Shards  int
	Seed    int64
	BinsKey string       // where MergeBins stored the global bins
	Params  boost.Params // Seed is derived from the run seed
	// MaxRows bounds the users trained on: beyond it, a sample by a hash
	// salted with the run seed (the same users whatever the shard count).
	// 0 means no bound.
	MaxRows int
	// FoldsUpTo is the most users trained on for which Params.Folds
	// models are averaged; with more, one model is boosted (its validation
	// fold is large enough alone). 0 means always Params.Folds.
	FoldsUpTo int
}

// TrainBoostOutput describes the boosted model and what it was trained on.
type TrainBoostOutput struct {
	Key         string
	Trees       int   // trees kept (the best round)
	Rounds      int   // rounds grown before early stopping (summed over folds)
	Folds       int   // models averaged
	Rows        int64 // training users that are not held out
	Sampled     int64 // of them, those trained on (MaxRows)
	Positives   int64 // buyers among Rows
	ValidLoss   float64
	Importances map[string]float64
}

// TrainBoost reads the training users of every shard that are not held
// out, bins them with the global bins, boosts the propensity model on them
// (on at most MaxRows of them) and stores it at layout.Booster. One
// activity trains on the gathered rows: boosting rounds depend on each
// other, and reducing per-shard gradient histograms in the workflow would
// take a round of shard activities per tree level (docs/FEATURES.md,
// "Propensity").
func (a *Activities) TrainBoost(ctx context.Context, in TrainBoostInput) (_ TrainBoostOutput, err error) {
	defer final(&err)
	data, err := a.Store.Get(ctx, in.BinsKey)
	if err != nil {
		return TrainBoostOutput{}, err
	}
	var bins *forest.Bins
	if err := json.Unmarshal(data, &bins); err != nil {
		return TrainBoostOutput{}, &corruptError{key: in.BinsKey, err: err}
	}
	var m *forest.Matrix
	var y, hash []float64
	out := TrainBoostOutput{Key: layout.Booster(in.RunID)}
	salt := fmt.Sprintf("%d/boost-sample", in.Seed)
	for i := range in.Shards {
		rows, err := a.readFeatures(ctx, layout.Train(in.RunID, i), features.TrainSchema)
		if err != nil {
			return TrainBoostOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		var x [][]float64
		for _, r := range rows {
			if holdout(in.Seed, r.UserID) {
				continue
			}
			x, y = append(x, r.Values), append(y, r.Label)
			hash = append(hash, shard.Unit(salt, r.UserID))
			if r.Label > 0 {
				out.Positives++
			}
		}
		if len(x) == 0 {
			continue
		}
		sm, err := forest.NewMatrix(x, features.Names, bins)
		if err != nil {
			return TrainBoostOutput{}, &corruptError{key: layout.Train(in.RunID, i), err: err}
		}
		if m == nil {
			m = sm
		} else if err := m.Append(sm); err != nil {
			return TrainBoostOutput{}, err
		}
	}
	if m == nil {
		return TrainBoostOutput{}, fmt.Errorf("train boost: no training users in %d shards", in.Shards)
	}
	out.Rows, out.Sampled = int64(len(y)), int64(len(y))
	var w []float64
	if in.MaxRows > 0 && len(y) > in.MaxRows {
		// Keep the MaxRows users of smallest hash: rows of weight 0 are
		// left out of training.
		cut := slices.Clone(hash)
		slices.Sort(cut)
		limit := cut[in.MaxRows-1]
		w = make([]float64, len(y))
		out.Sampled = 0
		for i, h := range hash {
			if h <= limit {
				w[i] = 1
				out.Sampled++
			}
		}
	}
	p := in.Params
	p.Seed = uint64(in.Seed)*1_000_003 + 17
	if in.FoldsUpTo > 0 && out.Sampled > int64(in.FoldsUpTo) {
		p.Folds = 0
	}
	mdl, err := boost.Fit(m, y, w, p)
	if err != nil {
		return TrainBoostOutput{}, err
	}
	out.Trees, out.Rounds, out.Folds, out.ValidLoss = len(mdl.Trees), mdl.Rounds, max(p.Folds, 1), mdl.Valid
	out.Importances = map[string]float64{}
	for i, v := range mdl.Importances() {
		out.Importances[mdl.Features[i]] = v
	}
	var buf bytes.Buffer
	if err := mdl.Save(&buf); err != nil {
		return TrainBoostOutput{}, err
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
		if len(f.Trees) == 0 {
			continue // an empty shard
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
	return decodeForest(key, data)
}

// decodeForest decodes the forest stored at key.
func decodeForest(key string, data []byte) (*forest.Forest, error) {
	if empty, ok := emptyForest(data); ok {
		return empty, nil
	}
	f, err := forest.Load(bytes.NewReader(data))
	if err != nil {
		return nil, &corruptError{key: key, err: err}
	}
	return f, nil
}

// EvaluateInput scores one block of shards' held-out users.
type EvaluateInput struct {
	RunID string
	Block shard.Block
	Seed  int64
	// ForestKey is the propensity model's key: a forest, or a boosted
	// model (boost.IsModel).
	ForestKey string
}

// propensityModel scores users' purchase propensity: a forest.Forest or a
// boost.Model, whichever the run trained.
type propensityModel interface {
	PredictBatch(rows [][]float64, out []float64)
}

// decodePropensity decodes the propensity model stored at key, of either
// kind: a boosted model's JSON starts with its "kind", a forest has none.
func decodePropensity(key string, data []byte) (propensityModel, error) {
	if !boost.IsModel(data) {
		return decodeForest(key, data)
	}
	m, err := boost.Load(bytes.NewReader(data))
	if err != nil {
		return nil, &corruptError{key: key, err: err}
	}
	return m, nil
}

// EvaluateForest scores the block's held-out users with the propensity
// model (forest or boosted), shard by shard, writes their scores to one
// part at layout.HoldoutScoresPart of the block's first shard, and returns
// a histogram of scores by label (the shards' merged in shard order), from
// which the workflow reads AUC and log loss.
func (a *Activities) EvaluateForest(ctx context.Context, in EvaluateInput) (_ metrics.ScoreHist, err error) {
	defer final(&err)
	data, err := a.Store.Get(ctx, in.ForestKey)
	if err != nil {
		return metrics.ScoreHist{}, err
	}
	f, err := decodePropensity(in.ForestKey, data)
	if err != nil {
		return metrics.ScoreHist{}, err
	}
	h := metrics.NewScoreHist(1000)
	var csv []byte
	for sh := in.Block.From; sh < in.Block.To; sh++ {
		rows, err := a.readFeatures(ctx, layout.Train(in.RunID, sh), features.TrainSchema)
		if err != nil {
			return metrics.ScoreHist{}, fmt.Errorf("shard %d: %w", sh, err)
		}
		var held []int // indices of the held-out rows
		var xs [][]float64
		for i, r := range rows {
			if holdout(in.Seed, r.UserID) {
				held = append(held, i)
				xs = append(xs, r.Values)
			}
		}
		scores := make([]float64, len(xs))
		f.PredictBatch(xs, scores)
		for k, i := range held {
			r, score := rows[i], scores[k]
			h.Add(score, r.Label > 0)
			csv = appendCSVField(csv, r.UserID)
			csv = append(csv, ',')
			csv = strconv.AppendFloat(csv, score, 'g', 8, 64)
			csv = append(csv, ',')
			csv = strconv.AppendInt(csv, int64(r.Label), 10)
			csv = append(csv, '\n')
		}
	}
	if err := a.Store.Put(ctx, layout.HoldoutScoresPart(in.RunID, in.Block.From), csv); err != nil {
		return metrics.ScoreHist{}, fmt.Errorf("shards %d..%d: %w", in.Block.From, in.Block.To-1, err)
	}
	return h, nil
}

// HoldoutScoresInput names the run whose held-out score parts to join.
type HoldoutScoresInput struct {
	RunID  string
	Shards int
	// ShardBlocks is how EvaluateForest's blocks cut the shards
	// (shard.Blocks): a part per block; 0 is a part per shard.
	ShardBlocks int
}

// WriteHoldoutScores joins the blocks' held-out score parts, in shard
// order, under a header into layout.HoldoutScores, and returns its key. The
// parts are streamed one at a time into a local file, which the store
// uploads in parts when it is large: the table is never in memory whole,
// nor sent in one PUT beyond the store's multipart threshold.
func (a *Activities) WriteHoldoutScores(ctx context.Context, in HoldoutScoresInput) (_ string, err error) {
	defer final(&err)
	// Streamed to the bucket as the parts are read (blob.Writer: multipart
	// when large), never whole in memory or on disk.
	key := layout.HoldoutScores(in.RunID)
	obj, err := a.Store.Create(ctx, key)
	if err != nil {
		return "", err
	}
	defer obj.Abort()
	if _, err := io.WriteString(obj, "user_id,score,label\n"); err != nil {
		return "", err
	}
	for _, b := range shard.Blocks(in.Shards, in.ShardBlocks) {
		if err := a.copyObject(ctx, obj, layout.HoldoutScoresPart(in.RunID, b.From)); err != nil {
			return "", fmt.Errorf("shards %d..%d: %w", b.From, b.To-1, err)
		}
	}
	return key, obj.Close()
}

// copyObject copies the object at key to w.
func (a *Activities) copyObject(ctx context.Context, w io.Writer, key string) error {
	r, err := a.Store.Open(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// appendCSVField appends s to b, quoted if it holds a comma, quote or line
// break.
func appendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	return append(append(b, '"'), append([]byte(strings.ReplaceAll(s, `"`, `""`)), '"')...)
}

// jsonEncode writes v as JSON.
func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// emptyForest recognises the forest of a shard without training users: a
// forest with no trees, which Load rejects.
func emptyForest(data []byte) (*forest.Forest, bool) {
	var f forest.Forest
	if err := json.Unmarshal(data, &f); err != nil || len(f.Trees) != 0 || f.Version != forest.Version {
		return nil, false
	}
	return &f, true
}
