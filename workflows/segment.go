package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/shard"
)

// SegmentInput configures distributed k-means over a run's feature shards.
type SegmentInput struct {
	RunID  string
	Shards int
	Users  int64
	// K is the number of segments; 0 chooses it in [KMin, KMax] on the
	// sample (SampleKeys) by the highest mean silhouette.
	K          int
	KMin, KMax int
	SampleKeys []string
	Seed       int64
	Scaler     features.Scaler
	MaxIter    int     // Lloyd iterations in all; 0 means 100
	Tol        float64 // relative cost change that counts as converged; 0 means 1e-4
	Window     int     // shard activities in flight
	// ShardBlocks is the most activities a round starts (shard.Blocks); 0
	// means DefaultShardBlocks.
	ShardBlocks int
	PerHistory  int     // iterations per workflow run before continue-as-new; 0 means 20
	Rounds      int     // k-means|| sampling rounds; 0 means 5
	Oversample  float64 // candidates expected per round, per segment (ℓ = Oversample·K); 0 means 2
	Restarts    int     // weighted reductions of the candidates, best kept; 0 means 10

	// Carried across continue-as-new.
	Centroids [][]float64
	Iter      int
	PrevCost  float64
	Init      InitStats
	KScores   []kmeans.KScore
	// The k-means|| initialisation's progress: the next round (0: round 0
	// has not run) and the candidates so far.
	InitRound int
	Cands     activities.KMeansGatherOutput
}

// InitStats describe the k-means|| initialisation.
type InitStats struct {
	Rounds     int     `json:"rounds"`
	Candidates int     `json:"candidates"`
	SeedCost   float64 `json:"seed_cost"`   // of all users against the candidates
	ReduceCost float64 `json:"reduce_cost"` // weighted, of the candidates against the initial centroids
}

// SegmentOutput are the final segments.
type SegmentOutput struct {
	K          int
	Centroids  [][]float64 // sorted (kmeans.Sort): segment i is row i
	Names      []string
	Cost       float64
	Iterations int
	Converged  bool
	Init       InitStats
	KScores    []kmeans.KScore // when k was chosen
}

func (in *SegmentInput) defaults() {
	if in.MaxIter == 0 {
		in.MaxIter = 100
	}
	if in.Tol == 0 {
		in.Tol = 1e-4
	}
	if in.PerHistory == 0 {
		in.PerHistory = 20
	}
	if in.Rounds == 0 {
		in.Rounds = 5
	}
	if in.Oversample == 0 {
		in.Oversample = 2
	}
	if in.Restarts == 0 {
		in.Restarts = 10
	}
	if in.ShardBlocks == 0 {
		in.ShardBlocks = DefaultShardBlocks
	}
}

// Segment runs k-means over all shards: the choice of k if asked,
// k-means|| initialisation (sampling rounds over the shards, candidates
// kept in the bucket, weighted and reduced to k centroids), then Lloyd
// iterations in which every block of shards (shard.Blocks) returns partial
// sums that the workflow reduces in shard order, until the relative cost
// change is below Tol. It continues as new every PerHistory iterations, when
// Temporal suggests it, or before a round (of k-means|| or Lloyd) that could
// take its history past HistoryEvents or HistoryBytes, so its history stays
// short however many shards and iterations it runs.
func Segment(ctx workflow.Context, in SegmentInput) (SegmentOutput, error) {
	in.defaults()
	ctx = withActivityOptions(ctx)
	progress := Progress{RunID: in.RunID, Stage: "init", Stages: []StageProgress{
		{Name: "init", State: Running, Done: in.InitRound, Total: in.Rounds + 2},
		{Name: "lloyd", State: Pending, Done: in.Iter, Total: in.MaxIter},
	}}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return progress, nil }); err != nil {
		return SegmentOutput{}, err
	}
	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	var room historyRoom
	if in.Centroids == nil {
		if err := initialise(ctx, &in, blocks, &room, &progress.Stages[0]); err != nil {
			return SegmentOutput{}, err
		}
	}
	progress.Stages[0].State = Done
	progress.Stage, progress.Stages[1].State = "lloyd", Running
	for run := 0; ; run++ {
		if run == in.PerHistory || (run > 0 && (workflow.GetInfo(ctx).GetContinueAsNewSuggested() || !room.fits(ctx, fanOutEvents(len(blocks))))) {
			return SegmentOutput{}, workflow.NewContinueAsNewError(ctx, Segment, in)
		}
		room.begin(ctx)
		partials := make([]kmeans.Partial, len(blocks))
		err := fanOut(ctx, len(blocks), in.Window,
			func(i int) workflow.Future {
				return workflow.ExecuteActivity(ctx, a.KMeansStep, activities.KMeansStepInput{
					RunID: in.RunID, Block: blocks[i], Scaler: in.Scaler, Centroids: in.Centroids,
				})
			},
			func(i int, f workflow.Future) error { return f.Get(ctx, &partials[i]) })
		if err != nil {
			return SegmentOutput{}, fmt.Errorf("k-means iteration %d: %w", in.Iter, err)
		}
		room.end(ctx)
		total := kmeans.NewPartial(in.K, in.Scaler.Dim())
		for i, p := range partials {
			if err := total.Merge(p); err != nil {
				return SegmentOutput{}, fmt.Errorf("shards %d..%d: %w", blocks[i].From, blocks[i].To-1, err)
			}
		}
		in.Iter++
		progress.Stages[1].Done = in.Iter
		progress.Stages[1].Detail = fmt.Sprintf("cost %.6g", total.Cost)
		converged := in.Iter > 1 && kmeans.Converged(in.PrevCost, total.Cost, in.Tol)
		if converged || in.Iter >= in.MaxIter {
			// The centroids are the ones this cost was measured against.
			progress.Stages[1].State, progress.Stage = Done, Done
			sorted, _ := kmeans.Sort(in.Centroids)
			return SegmentOutput{
				K: in.K, Centroids: sorted, Names: segment.Names(in.Scaler.Names, sorted),
				Cost: total.Cost, Iterations: in.Iter, Converged: converged, Init: in.Init, KScores: in.KScores,
			}, nil
		}
		in.PrevCost = total.Cost
		in.Centroids = kmeans.Update(in.Centroids, total)
	}
}

// initialise chooses k if asked and the initial centroids by k-means||,
// over blocks of shards. Before each fan-out after the first of this run
// it continues as new (carrying its progress in in) when the round might
// not fit in the history.
func initialise(ctx workflow.Context, in *SegmentInput, blocks []shard.Block, room *historyRoom, st *StageProgress) error {
	if in.K == 0 {
		var ck activities.KMeansChooseKOutput
		err := workflow.ExecuteActivity(ctx, a.KMeansChooseK, activities.KMeansChooseKInput{
			SampleKeys: in.SampleKeys, Scaler: in.Scaler, KMin: in.KMin, KMax: in.KMax, Seed: in.Seed, MaxPoints: 4000,
		}).Get(ctx, &ck)
		if err != nil {
			return fmt.Errorf("choose k: %w", err)
		}
		in.K, in.KScores = ck.K, ck.Scores
	}
	if in.K < 1 {
		return fmt.Errorf("k = %d", in.K)
	}
	l := in.Oversample * float64(in.K)
	rounds := 0 // fan-outs of this run
	// full says whether the next fan-out might not fit: never before the
	// first of a run, which must make progress.
	full := func() bool {
		return rounds > 0 && (workflow.GetInfo(ctx).GetContinueAsNewSuggested() || !room.fits(ctx, fanOutEvents(len(blocks))))
	}
	sample := func(round int, cands string) ([]activities.KMeansSampleOutput, error) {
		room.begin(ctx)
		outs := make([]activities.KMeansSampleOutput, len(blocks))
		err := fanOut(ctx, len(blocks), in.Window,
			func(i int) workflow.Future {
				return workflow.ExecuteActivity(ctx, a.KMeansSample, activities.KMeansSampleInput{
					RunID: in.RunID, Block: blocks[i], Round: round, Seed: in.Seed, Scaler: in.Scaler, L: l, Candidates: cands,
				})
			},
			func(i int, f workflow.Future) error { return f.Get(ctx, &outs[i]) })
		if err != nil {
			return nil, fmt.Errorf("k-means|| round %d: %w", round, err)
		}
		rounds++
		st.Done++
		return outs, nil
	}
	gather := func(g activities.KMeansGatherInput) (activities.KMeansGatherOutput, error) {
		var out activities.KMeansGatherOutput
		err := workflow.ExecuteActivity(ctx, a.KMeansGather, g).Get(ctx, &out)
		if err != nil {
			err = fmt.Errorf("k-means|| round %d: %w", g.Round, err)
		}
		room.end(ctx)
		return out, err
	}

	if in.InitRound == 0 {
		// Round 0: the user with the smallest draw of all blocks.
		outs, err := sample(0, "")
		if err != nil {
			return err
		}
		first := -1
		for i, o := range outs {
			if o.Rows > 0 && (first < 0 || o.MinU < outs[first].MinU) {
				first = i
			}
		}
		if first < 0 {
			return fmt.Errorf("k-means||: no users in %d shards", in.Shards)
		}
		if in.Cands, err = gather(activities.KMeansGatherInput{RunID: in.RunID, Round: 0, Keys: []string{outs[first].Key}, All: true}); err != nil {
			return err
		}
		in.Init.Rounds = 0
		in.InitRound = 1
	}
	for in.InitRound <= in.Rounds {
		if full() {
			return workflow.NewContinueAsNewError(ctx, Segment, *in)
		}
		round := in.InitRound
		outs, err := sample(round, in.Cands.Key)
		if err != nil {
			return err
		}
		var cost float64
		keys := make([]string, len(outs))
		for i, o := range outs {
			cost += o.Cost
			keys[i] = o.Key
		}
		st.Detail = fmt.Sprintf("round %d: cost %.6g, %d candidates", round, cost, in.Cands.Count)
		if cost == 0 { // every user is a candidate already
			in.InitRound = in.Rounds + 1
			break
		}
		if in.Cands, err = gather(activities.KMeansGatherInput{
			RunID: in.RunID, Round: round, Prev: in.Cands.Key, Keys: keys, Cost: cost, L: l,
		}); err != nil {
			return err
		}
		in.Init.Rounds = round
		in.InitRound++
	}

	// Weigh the candidates by the users nearest to them, then reduce.
	if full() {
		return workflow.NewContinueAsNewError(ctx, Segment, *in)
	}
	cands := in.Cands
	weighed := make([]activities.KMeansWeighOutput, len(blocks))
	err := fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(ctx, a.KMeansWeigh, activities.KMeansWeighInput{
				RunID: in.RunID, Block: blocks[i], Scaler: in.Scaler, Candidates: cands.Key,
			})
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &weighed[i]) })
	if err != nil {
		return fmt.Errorf("k-means|| weights: %w", err)
	}
	weights := make([]float64, cands.Count)
	for i, w := range weighed {
		if len(w.Counts) != cands.Count {
			return fmt.Errorf("shards %d..%d: %d weights for %d candidates", blocks[i].From, blocks[i].To-1, len(w.Counts), cands.Count)
		}
		for j, n := range w.Counts {
			weights[j] += float64(n)
		}
		in.Init.SeedCost += w.Cost
	}
	st.Done++
	var red activities.KMeansReduceOutput
	err = workflow.ExecuteActivity(ctx, a.KMeansReduce, activities.KMeansReduceInput{
		Candidates: cands.Key, Weights: weights, K: in.K, Seed: in.Seed, Restarts: in.Restarts,
	}).Get(ctx, &red)
	if err != nil {
		return fmt.Errorf("k-means|| reduce: %w", err)
	}
	st.Done++
	in.Centroids = red.Centroids
	in.Init.Candidates, in.Init.ReduceCost = red.Candidates, red.Cost
	return nil
}
