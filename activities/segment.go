package activities

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/shard"
)

// loadScaled reads a feature table and returns its user ids and their
// standardized points (one backing array).
func (a *Activities) loadScaled(ctx context.Context, key string, s features.Scaler) ([]string, [][]float64, error) {
	var ids []string
	var back []float64
	err := a.readArrow(ctx, key, features.Schema, func(rec arrow.Record) error {
		return features.EachValues(rec, func(id string, v []float64) {
			ids = append(ids, string([]byte(id)))
			back = append(back, s.ApplyTo(v, nil)...)
		})
	})
	if err != nil {
		return nil, nil, err
	}
	d := s.Dim()
	pts := make([][]float64, len(ids))
	for i := range pts {
		pts[i] = back[i*d : (i+1)*d : (i+1)*d]
	}
	return ids, pts, nil
}

// loadPoints reads a candidates object.
func (a *Activities) loadPoints(ctx context.Context, key string) ([]kmeans.Point, error) {
	var pts []kmeans.Point
	err := a.readArrow(ctx, key, kmeans.PointsSchema, func(rec arrow.Record) error {
		var err error
		pts, err = kmeans.ReadPoints(rec, pts)
		return err
	})
	return pts, err
}

func coords(pts []kmeans.Point) [][]float64 {
	out := make([][]float64, len(pts))
	for i, p := range pts {
		out[i] = p.X
	}
	return out
}

// drawSalt salts the uniform draws of k-means|| round r: the same users are
// drawn whatever the number of shards.
func drawSalt(seed int64, round int) string { return fmt.Sprintf("%d/kmeans||/%d", seed, round) }

// KMeansSampleInput is one k-means|| round on one block of shards.
type KMeansSampleInput struct {
	RunID      string
	Block      shard.Block
	Round      int // 0 picks the first candidate
	Seed       int64
	Scaler     features.Scaler
	L          float64 // oversampling factor: candidates expected per round
	Candidates string  // key of the candidates chosen so far (rounds ≥ 1)
}

// KMeansSampleOutput is the block's share of a round: its cost against the
// candidates so far and where its kept points are.
type KMeansSampleOutput struct {
	Key   string
	Rows  int     // points kept
	Cost  float64 // Σ squared distance to the nearest candidate (rounds ≥ 1), summed in shard order
	MinU  float64 // round 0: the block's smallest draw (2 when empty)
	Users int64
}

// KMeansSample runs round r of k-means|| initialisation on a block of
// shards. Round 0 keeps the block's user with the smallest draw (the first
// shard's on a tie; the workflow keeps the smallest of all blocks: a
// uniformly random user). Later rounds compute every user's squared
// distance to the candidates so far and keep the users Keep would choose
// under the block's own cost: a superset of the users the total cost
// chooses. The kept points are stored in one object, shards in order; only
// counts and costs return.
func (a *Activities) KMeansSample(ctx context.Context, in KMeansSampleInput) (_ KMeansSampleOutput, err error) {
	defer final(&err)
	out := KMeansSampleOutput{Key: layout.KMeansRound(in.RunID, in.Round, in.Block.From), MinU: 2}
	salt := drawSalt(in.Seed, in.Round)
	var centers [][]float64
	if in.Round > 0 {
		cands, err := a.loadPoints(ctx, in.Candidates)
		if err != nil {
			return KMeansSampleOutput{}, err
		}
		centers = coords(cands)
	}
	type part struct {
		ids []string
		pts [][]float64
		d2  []float64
	}
	parts := make([]part, 0, in.Block.Len())
	var kept []kmeans.Point
	for i := in.Block.From; i < in.Block.To; i++ {
		// Round 0 starts the stage: it reads the table anew (see scaledCache).
		ids, pts, err := a.scaled(ctx, layout.Features(in.RunID, i), in.Scaler, in.Round == 0)
		if err != nil {
			return KMeansSampleOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		out.Users += int64(len(ids))
		if in.Round == 0 {
			best, minU := -1, 2.0
			for j, id := range ids {
				if u := shard.Unit(salt, id); u < minU {
					best, minU = j, u
				}
			}
			if best >= 0 && minU < out.MinU {
				out.MinU = minU
				kept = []kmeans.Point{{ID: ids[best], U: minU, X: pts[best]}}
			}
			continue
		}
		// The shard's cost is summed alone, then added: with one shard per
		// block the cost is the shard's, as before blocks.
		p := part{ids: ids, pts: pts, d2: make([]float64, len(pts))}
		var cost float64
		for j, x := range pts {
			p.d2[j] = kmeans.NearestDist(x, centers)
			cost += p.d2[j]
		}
		out.Cost += cost
		parts = append(parts, p)
	}
	for _, p := range parts {
		for j, id := range p.ids {
			if u := shard.Unit(salt, id); kmeans.Keep(p.d2[j], u, out.Cost, in.L) {
				kept = append(kept, kmeans.Point{ID: id, Dist2: p.d2[j], U: u, X: p.pts[j]})
			}
		}
	}
	out.Rows = len(kept)
	rec := kmeans.PointsRecord(kept, a.mem())
	defer rec.Release()
	return out, a.writeArrow(ctx, out.Key, kmeans.PointsSchema, rec)
}

// KMeansGatherInput selects a round's candidates from the shards' kept
// points.
type KMeansGatherInput struct {
	RunID string
	Round int
	Prev  string   // candidates of the earlier rounds ("" in round 0)
	Keys  []string // the blocks' kept points of this round, in shard order
	All   bool     // keep every point (round 0: the winning shard's one)
	Cost  float64  // the round's total cost
	L     float64
}

// KMeansGatherOutput says where the candidates so far are.
type KMeansGatherOutput struct {
	Key   string
	Count int // candidates so far
	Added int // in this round
}

// KMeansGather appends to the earlier candidates the points of this round
// that Keep chooses under the total cost, in shard order, and stores them.
func (a *Activities) KMeansGather(ctx context.Context, in KMeansGatherInput) (_ KMeansGatherOutput, err error) {
	defer final(&err)
	var cands []kmeans.Point
	if in.Prev != "" {
		if cands, err = a.loadPoints(ctx, in.Prev); err != nil {
			return KMeansGatherOutput{}, err
		}
	}
	before := len(cands)
	for _, key := range in.Keys {
		pts, err := a.loadPoints(ctx, key)
		if err != nil {
			return KMeansGatherOutput{}, err
		}
		for _, p := range pts {
			if in.All || kmeans.Keep(p.Dist2, p.U, in.Cost, in.L) {
				cands = append(cands, p)
			}
		}
	}
	out := KMeansGatherOutput{Key: layout.KMeansCandidates(in.RunID, in.Round), Count: len(cands), Added: len(cands) - before}
	rec := kmeans.PointsRecord(cands, a.mem())
	defer rec.Release()
	return out, a.writeArrow(ctx, out.Key, kmeans.PointsSchema, rec)
}

// KMeansWeighInput asks a block of shards how many of its users each
// candidate is nearest to.
type KMeansWeighInput struct {
	RunID      string
	Block      shard.Block
	Scaler     features.Scaler
	Candidates string
}

// KMeansWeighOutput are the block's weights of the candidates (in their
// order) and its cost against them.
type KMeansWeighOutput struct {
	Counts []int64
	Cost   float64
}

// KMeansWeigh counts, for every candidate, the block's users nearest to it.
func (a *Activities) KMeansWeigh(ctx context.Context, in KMeansWeighInput) (_ KMeansWeighOutput, err error) {
	defer final(&err)
	cands, err := a.loadPoints(ctx, in.Candidates)
	if err != nil {
		return KMeansWeighOutput{}, err
	}
	centers := coords(cands)
	out := KMeansWeighOutput{Counts: make([]int64, len(cands))}
	for i := in.Block.From; i < in.Block.To; i++ {
		_, pts, err := a.scaled(ctx, layout.Features(in.RunID, i), in.Scaler, false)
		if err != nil {
			return KMeansWeighOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		var cost float64
		for _, x := range pts {
			j, d := kmeans.Nearest(x, centers)
			out.Counts[j]++
			cost += d
		}
		out.Cost += cost
	}
	return out, nil
}

// KMeansReduceInput turns the weighted candidates into k centroids.
type KMeansReduceInput struct {
	Candidates string
	Weights    []float64 // per candidate, summed over shards in shard order
	K          int
	Seed       int64
	Restarts   int
}

// KMeansReduceOutput are the initial centroids.
type KMeansReduceOutput struct {
	Centroids  [][]float64
	Cost       float64 // weighted cost over the candidates
	Candidates int
}

// KMeansReduce clusters the weighted candidates into k initial centroids:
// the best of Restarts weighted k-means++ and Lloyd runs.
func (a *Activities) KMeansReduce(ctx context.Context, in KMeansReduceInput) (_ KMeansReduceOutput, err error) {
	defer final(&err)
	cands, err := a.loadPoints(ctx, in.Candidates)
	if err != nil {
		return KMeansReduceOutput{}, err
	}
	if len(cands) != len(in.Weights) || len(cands) == 0 {
		return KMeansReduceOutput{}, fmt.Errorf("k-means reduce: %d candidates, %d weights", len(cands), len(in.Weights))
	}
	c, cost := kmeans.BestReduce(coords(cands), in.Weights, in.K, uint64(in.Seed), in.Restarts)
	return KMeansReduceOutput{Centroids: c, Cost: cost, Candidates: len(cands)}, nil
}

// KMeansChooseKInput chooses k on the run's sample.
type KMeansChooseKInput struct {
	SampleKeys []string
	Scaler     features.Scaler
	KMin, KMax int
	Seed       int64
	MaxPoints  int // silhouettes are quadratic: at most this many sampled users
}

// KMeansChooseKOutput is the chosen k and every candidate k's score.
type KMeansChooseKOutput struct {
	K      int
	Scores []kmeans.KScore
	Points int
}

// loadSubsample reads the scaled points of the sample's objects (keys)
// and keeps a seeded share of about maxPoints of them (all when maxPoints
// is 0 or not exceeded), chosen by a hash of the user id with salt.
func (a *Activities) loadSubsample(ctx context.Context, keys []string, s features.Scaler, maxPoints int, salt string) ([][]float64, error) {
	var ids []string
	var pts [][]float64
	for _, key := range keys {
		i, p, err := a.loadScaled(ctx, key, s)
		if err != nil {
			return nil, err
		}
		ids, pts = append(ids, i...), append(pts, p...)
	}
	if maxPoints <= 0 || len(pts) <= maxPoints {
		return pts, nil
	}
	rate := float64(maxPoints) / float64(len(pts))
	var sub [][]float64
	for i, id := range ids {
		if shard.Unit(salt, id) < rate {
			sub = append(sub, pts[i])
		}
	}
	return sub, nil
}

// KMeansChooseK clusters a seeded subsample of the sample for every k in
// [KMin, KMax] and chooses the one of highest mean silhouette
// (kmeans.ChooseK).
func (a *Activities) KMeansChooseK(ctx context.Context, in KMeansChooseKInput) (_ KMeansChooseKOutput, err error) {
	defer final(&err)
	pts, err := a.loadSubsample(ctx, in.SampleKeys, in.Scaler, in.MaxPoints, fmt.Sprintf("%d/choose-k", in.Seed))
	if err != nil {
		return KMeansChooseKOutput{}, err
	}
	if len(pts) < in.KMax || in.KMin < 2 || in.KMax < in.KMin {
		return KMeansChooseKOutput{}, fmt.Errorf("choose k in [%d, %d] from %d sampled users", in.KMin, in.KMax, len(pts))
	}
	k, scores := kmeans.ChooseK(pts, in.KMin, in.KMax, uint64(in.Seed), 3)
	return KMeansChooseKOutput{K: k, Scores: scores, Points: len(pts)}, nil
}

// KMeansStepInput is one Lloyd iteration on one block of shards.
type KMeansStepInput struct {
	RunID     string
	Block     shard.Block
	Scaler    features.Scaler
	Centroids [][]float64
}

// KMeansStep assigns the block's users to their nearest centroid and
// returns the partial sums the workflow reduces into new centroids: one
// Partial for the block, its shards' merged in shard order.
func (a *Activities) KMeansStep(ctx context.Context, in KMeansStepInput) (_ kmeans.Partial, err error) {
	defer final(&err)
	k, d := len(in.Centroids), in.Scaler.Dim()
	total := kmeans.NewPartial(k, d)
	for i := in.Block.From; i < in.Block.To; i++ {
		_, pts, err := a.scaled(ctx, layout.Features(in.RunID, i), in.Scaler, false)
		if err != nil {
			return kmeans.Partial{}, fmt.Errorf("shard %d: %w", i, err)
		}
		p := kmeans.NewPartial(k, d)
		for _, x := range pts {
			p.Add(x, in.Centroids)
		}
		if math.IsNaN(p.Cost) || math.IsInf(p.Cost, 0) {
			return kmeans.Partial{}, fmt.Errorf("shard %d: k-means cost %v: non-finite features", i, p.Cost)
		}
		if in.Block.Len() == 1 {
			return p, nil
		}
		if err := total.Merge(p); err != nil {
			return kmeans.Partial{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return total, nil
}

// SegmentAssignInput assigns a block of shards' users to the final
// segments.
type SegmentAssignInput struct {
	RunID     string
	Block     shard.Block
	Scaler    features.Scaler
	Centroids [][]float64
}

// SegmentAssignOutput is the block's share of the segment profiles.
type SegmentAssignOutput struct {
	TermsKey string       // interests summed per segment over the block
	Users    int64        //
	Cost     float64      // Σ squared distance to the assigned centroid
	Sums     segment.Sums // raw feature sums per segment, shards merged in order
}

// SegmentAssign writes every user's segment (nearest centroid), one object
// per shard, and sums, per segment, the users' raw features (returned) and
// their interests (stored, one object for the block: too many terms for a
// payload).
func (a *Activities) SegmentAssign(ctx context.Context, in SegmentAssignInput) (_ SegmentAssignOutput, err error) {
	defer final(&err)
	k := len(in.Centroids)
	out := SegmentAssignOutput{TermsKey: layout.SegmentTerms(in.RunID, in.Block.From), Sums: segment.NewSums(k)}
	terms := segment.NewTermSums(k)
	for i := in.Block.From; i < in.Block.To; i++ {
		sums, cost, err := a.assignShard(ctx, in, i, &terms)
		if err != nil {
			return SegmentAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		if in.Block.Len() == 1 {
			out.Sums = sums
		} else if err := out.Sums.Merge(sums); err != nil {
			return SegmentAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		out.Cost += cost
	}
	for _, n := range out.Sums.Count {
		out.Users += n
	}
	rec := terms.Record(a.mem())
	defer rec.Release()
	return out, a.writeArrow(ctx, out.TermsKey, segment.TermSumsSchema, rec)
}

// assignShard writes shard i's users' segments, adds their interests to
// terms and returns their feature sums and cost.
func (a *Activities) assignShard(ctx context.Context, in SegmentAssignInput, i int, terms *segment.TermSums) (segment.Sums, float64, error) {
	key := layout.Features(in.RunID, i)
	rows, err := a.readFeatures(ctx, key, features.Schema)
	if err != nil {
		return segment.Sums{}, 0, err
	}
	// The last reader of the shard's points: the cache need not keep them.
	a.scaledPts.remove(scaledKey(ctx, key, in.Scaler))
	sums := segment.NewSums(len(in.Centroids))
	var cost float64
	ids := make([]string, len(rows))
	segs := make([]int32, len(rows))
	dist := make([]float64, len(rows))
	x := make([]float64, in.Scaler.Dim())
	for j, r := range rows {
		c, d := kmeans.Nearest(in.Scaler.ApplyTo(r.Values, x), in.Centroids)
		ids[j], segs[j], dist[j] = r.UserID, int32(c), d
		cost += d
		sums.Add(c, r.Values)
		terms.Add(c, r.Terms, r.Categories)
	}
	rec := features.SegmentRecord(ids, segs, dist, a.mem())
	defer rec.Release()
	return sums, cost, a.writeArrow(ctx, layout.Segments(in.RunID, i), features.SegmentSchema, rec)
}

// SegmentTermsInput lists the blocks' interest sums, in shard order.
type SegmentTermsInput struct {
	Keys []string
	K    int
	Top  int
}

// SegmentTermsOutput are every segment's characteristic terms and
// categories.
type SegmentTermsOutput struct {
	Terms      [][]segment.Term
	Categories [][]segment.Term
}

// SegmentTerms merges the blocks' interest sums and returns each segment's
// top terms and categories (segment.TermSums.Top).
func (a *Activities) SegmentTerms(ctx context.Context, in SegmentTermsInput) (_ SegmentTermsOutput, err error) {
	defer final(&err)
	total := segment.NewTermSums(in.K)
	for i, key := range in.Keys {
		part := segment.NewTermSums(in.K)
		if err := a.readArrow(ctx, key, segment.TermSumsSchema, func(rec arrow.Record) error { return segment.ReadTermSums(rec, &part) }); err != nil {
			return SegmentTermsOutput{}, fmt.Errorf("block %d: %w", i, err)
		}
		if err := total.Merge(part); err != nil {
			return SegmentTermsOutput{}, fmt.Errorf("block %d: %w", i, err)
		}
	}
	terms, cats := total.Top(in.Top)
	return SegmentTermsOutput{Terms: terms, Categories: cats}, nil
}
