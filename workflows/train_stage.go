package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/internal/boost"
	"github.com/promoflow/promoflow/internal/forest"
	"github.com/promoflow/promoflow/internal/shard"
)

// MinForestTrees is the fewest trees the propensity forest has: each shard
// grows TreesPerShard trees, or more when there are few shards.
const MinForestTrees = 100

// PropensityBoost are the booster's parameters for purchase propensity:
// on the generated 100,000-user file, learning rates 0.05 and 0.1, 15 or
// 31 leaves and leaves of 20 to 100 users all reached a held-out AUC of
// 0.779-0.780 with one model; the larger leaves and rate stop soonest.
// Five models, each stopped on its own fold, averaged: 0.781, and on
// Online Retail (2,749 training users, a 10% validation fold of 275)
// 0.760 against 0.743 for one model (docs/FEATURES.md, "Propensity").
var PropensityBoost = boost.Params{LearningRate: 0.1, MaxLeaves: 31, MinLeaf: 100, L2: 1, Folds: 5}

// PropensityFoldsUpTo is the most training users for which the booster
// averages PropensityBoost.Folds models; above it one model, whose 10%
// validation fold holds 10,000 users or more, keeps the stage's time in
// bounds.
const PropensityFoldsUpTo = 100_000

// PropensityBoostRows bounds the training users the booster samples, so
// the train stage's one activity costs about the same at any number of
// users (about 10 s of one core's boosting): the AUC a sample costs is
// measured in docs/FEATURES.md, "Propensity" (all 223,074 training users of
// the 300,000-user file 0.7849, 100,000 of them 0.7828). Above
// PropensityFoldsUpTo, so one model is trained.
const PropensityBoostRows = 120_000

// treesPerBlock is the trees each block of shards grows for the forest:
// perBlock, or more so that the forest has MinForestTrees; so at most
// ShardBlocks × perBlock trees whatever the shard count. With shards <=
// shardBlocks (a block per shard) it is the count of runs before blocks.
func treesPerBlock(shards, shardBlocks, perBlock int) int {
	blocks := max(len(shard.Blocks(shards, shardBlocks)), 1)
	return max(perBlock, (MinForestTrees+blocks-1)/blocks)
}

// trainBesideVersion marks the train stage started beside the segment
// stage: it reads only the features stage's training tables, and the
// segment stage's k-means rounds leave a core idle. Runs recorded before
// it train after the segment stage.
const trainBesideVersion = "train-beside-segment"

// startTrain starts the train stage beside the segment stage and returns
// what the stage loop waits on at the train stage; nil for runs recorded
// before trainBesideVersion, which train in turn.
func (r *run) startTrain(ctx workflow.Context) func(workflow.Context) error {
	if workflow.GetVersion(ctx, trainBesideVersion, workflow.DefaultVersion, 1) != 1 {
		return nil
	}
	done, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) { set.Set(nil, r.train(ctx)) })
	return func(ctx workflow.Context) error { return done.Get(ctx, nil) }
}

// train trains the propensity model as the child workflow Train: boosted
// trees, or (runs from before boosting, or Propensity "forest") a forest
// grown per shard.
func (r *run) train(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageTrain, 0)
	trees := treesPerBlock(in.Shards, in.ShardBlocks, in.TreesPerShard)
	tin := TrainInput{
		RunID: in.RunID, Shards: in.Shards, ShardBlocks: in.ShardBlocks, Seed: in.Seed, Window: in.Window,
		Params: forest.Params{Trees: trees, MaxDepth: 8, MinLeaf: 20, Bootstrap: true},
	}
	tin.Sketched = r.feat.sketched
	if workflow.GetVersion(ctx, "propensity-boost", workflow.DefaultVersion, 1) == 1 && in.Propensity != ModelForest {
		tin.Model, tin.Boost, tin.BoostRows, tin.BoostFoldsUpTo = ModelBoost, PropensityBoost, PropensityBoostRows, PropensityFoldsUpTo
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: in.RunID + "-train"})
	if err := workflow.ExecuteChildWorkflow(cctx, Train, tin).Get(ctx, &r.model); err != nil {
		return err
	}
	r.sum.Models.Propensity = &r.model
	if r.model.Model == ModelBoost {
		r.track.detail(StageTrain, fmt.Sprintf("%d boosted trees, AUC %.3f", r.model.Trees, r.model.AUC))
	} else {
		r.track.detail(StageTrain, fmt.Sprintf("%d trees, AUC %.3f", r.model.Trees, r.model.AUC))
	}
	return nil
}
