package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/recommend"
	"github.com/promoflow/promoflow/internal/shard"
)

// recommendVersion marks the recommendations step after the features
// stage: runs recorded before it made no recommendations, and replay must
// not schedule its activities.
const recommendVersion = "recommendations"

// RecommendSampleSize bounds the users the recommendation model trains on
// (whole shards: docs/FEATURES.md measures what the bound costs).
const RecommendSampleSize = 200_000

// recommendSampleShards is how many shards the model trains on: the fewest
// whose users (spread evenly by a hash of their id) reach
// RecommendSampleSize, all of them for smaller runs.
func recommendSampleShards(users int64, shards int) int {
	if users <= RecommendSampleSize {
		return shards
	}
	return min(shards, max(1, int((RecommendSampleSize*int64(shards)+users-1)/users)))
}

// RecommendK is how many products a plan row features.
const RecommendK = 10

// RecommendSummary is the recommendations step in the run summary.
type RecommendSummary struct {
	Table      string           `json:"table"` // runs/<run>/recommendations.parquet
	Users      int64            `json:"users"`
	Rows       int64            `json:"rows"`
	ModelUsers int              `json:"model_users"` // users the model trained on
	Items      int              `json:"items"`       // items the model knows
	Categories []string         `json:"categories,omitempty"`
	Sources    map[string]int64 `json:"sources"` // general lists' picks by source
}

// recommendations is what the decide stage needs from the step.
type recommendations struct {
	keys            []string          // per shard; nil when the run made none
	offerCategories map[string]string // offer id -> featured category
}

// key is shard i's recommendations, or "" when the run made none.
func (rc recommendations) key(i int) string {
	if rc.keys == nil {
		return ""
	}
	return rc.keys[i]
}

// Versions of the recommendations step (marker recommendVersion).
const (
	// recommendAfterFeatures runs the step after the features stage,
	// before the segment stage starts.
	recommendAfterFeatures workflow.Version = 1
	// recommendBesideStages runs the step beside the segment and train
	// stages, which do not read its lists; the decide stage waits for it.
	// Scoring every user is CPU the lighter stages leave idle.
	recommendBesideStages workflow.Version = 2
)

// startRecommend starts the recommendations step once the features stage
// has ended and returns what the decide stage waits on: the step's error.
// Runs recorded before the step schedule nothing; runs recorded with it
// after the features stage (recommendAfterFeatures) run it at once and
// fail at once, so their histories replay.
func (r *run) startRecommend(ctx workflow.Context) (wait func(workflow.Context) error, err error) {
	none := func(workflow.Context) error { return nil }
	switch workflow.GetVersion(ctx, recommendVersion, workflow.DefaultVersion, recommendBesideStages) {
	case workflow.DefaultVersion:
		return none, nil
	case recommendAfterFeatures:
		return none, r.recommend(ctx)
	}
	done, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) { set.Set(nil, r.recommend(ctx)) })
	return func(ctx workflow.Context) error { return done.Get(ctx, nil) }, nil
}

// recommend trains the recommendation model on a bounded sample of users,
// writes every shard's users' ranked lists (a general one and one per
// category the template's offers feature), and publishes them as
// runs/<run>/recommendations.parquet. The plan rows pick their list in
// DecideAssign.
func (r *run) recommend(ctx workflow.Context) error {
	in := r.in
	actx := withActivityOptions(ctx)
	rc := recommendations{offerCategories: map[string]string{}}
	var cats []string
	for _, id := range in.Spec.Offers {
		if o, ok := in.Catalog.Offer(id); ok && o.FeaturedCategory != "" {
			if _, dup := rc.offerCategories[id]; !dup {
				rc.offerCategories[id] = o.FeaturedCategory
			}
			if !slices.Contains(cats, o.FeaturedCategory) {
				cats = append(cats, o.FeaturedCategory)
			}
		}
	}
	var model activities.RecommendModelOutput
	err := workflow.ExecuteActivity(actx, a.RecommendModel, activities.RecommendModelInput{
		RunID: in.RunID, Shards: in.Shards, End: r.end, SampleShards: recommendSampleShards(r.sum.Users, in.Shards),
		Rate: 1, Seed: in.Seed, Config: recommend.DefaultConfig(),
	}).Get(ctx, &model)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	sum := &RecommendSummary{ModelUsers: model.Users, Items: model.Items, Categories: cats, Sources: map[string]int64{}}
	// One activity per block of shards (shard.Blocks), as the features
	// stage: the history stays bounded whatever the shard count.
	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	outs := make([]activities.RecommendOutput, len(blocks))
	err = fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.Recommend, activities.RecommendInput{
				RunID: in.RunID, Block: blocks[i], ModelKey: model.Key, End: r.end, K: RecommendK,
				AllowRepeats: in.Spec.RepeatItems, Categories: cats,
			})
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &outs[i]) })
	if err != nil {
		return err
	}
	for _, o := range outs {
		rc.keys = append(rc.keys, o.Keys...)
		sum.Users += o.Users
		for s, n := range o.Sources {
			sum.Sources[s] += n
		}
	}
	var table activities.RecommendationsTableOutput
	err = workflow.ExecuteActivity(actx, a.RecommendationsTable, activities.RecommendationsTableInput{
		RunID: in.RunID, Keys: rc.keys,
	}).Get(ctx, &table)
	if err != nil {
		return fmt.Errorf("table: %w", err)
	}
	sum.Table, sum.Rows = table.URL, table.Rows
	r.recs, r.sum.Recommendations = rc, sum
	r.track.detail(StageFeatures, fmt.Sprintf("recommendations for %d users", sum.Users))
	return nil
}
