package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/layout"
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
	keys            []string          // the lists per shard; nil when the run made none
	offerCategories map[string]string // offer id -> featured category
	// inFeatures: the features pass writes the lists (listsInFeatures),
	// and what plan rows take of them (layout.Featured).
	inFeatures bool
}

// featured says whether plan rows read the shards' featured lists
// (DecideAssignInput.Featured) rather than the lists.
func (rc recommendations) featured() bool { return rc.inFeatures && rc.keys != nil }

// key is what plan rows of shard i read (DecideAssignInput
// .Recommendations), or "" when the run made none.
func (rc recommendations) key(run string, i int) string {
	switch {
	case rc.keys == nil:
		return ""
	case rc.featured():
		return layout.Featured(run, i)
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

// listsVersion marks the lists scored in the features pass: the model
// trains beside the vocabulary, and each Features activity scores its
// shards' users from the events it already holds (the step's own
// Recommend activities read every shard's events a third time). Runs
// recorded before it run the step after the features stage
// (startRecommend).
const listsVersion = "recommendations-in-features"

// listsInFeatures is listsVersion's one version.
const listsInFeatures workflow.Version = 1

// listsWithFeatures says whether the features pass writes the lists, and
// records so in r.recs.
func (r *run) listsWithFeatures(ctx workflow.Context) bool {
	r.recs.inFeatures = workflow.GetVersion(ctx, listsVersion, workflow.DefaultVersion, listsInFeatures) == listsInFeatures
	return r.recs.inFeatures
}

// startRecommend starts what is left of the recommendations step once the
// features stage has ended and returns what the decide stage waits on:
// the step's error. When the features pass wrote the lists, that is the
// table. Runs recorded before the step schedule nothing; runs recorded
// with it after the features stage (recommendAfterFeatures) run it at
// once and fail at once, so their histories replay.
func (r *run) startRecommend(ctx workflow.Context) (wait func(workflow.Context) error, err error) {
	none := func(workflow.Context) error { return nil }
	step := r.recommend
	if r.recs.inFeatures {
		step = r.recommendTable
	} else {
		switch workflow.GetVersion(ctx, recommendVersion, workflow.DefaultVersion, recommendBesideStages) {
		case workflow.DefaultVersion:
			return none, nil
		case recommendAfterFeatures:
			return none, r.recommend(ctx)
		}
	}
	done, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) { set.Set(nil, step(ctx)) })
	return func(ctx workflow.Context) error { return done.Get(ctx, nil) }, nil
}

// startRecommendModel starts training the recommendation model on a
// bounded sample of the run's users (whole shards).
func (r *run) startRecommendModel(ctx workflow.Context, users int64) workflow.Future {
	in := r.in
	return workflow.ExecuteActivity(withActivityOptions(ctx), a.RecommendModel, activities.RecommendModelInput{
		RunID: in.RunID, Shards: in.Shards, End: r.end, SampleShards: recommendSampleShards(users, in.Shards),
		Rate: 1, Seed: in.Seed, Config: recommend.DefaultConfig(),
	})
}

// beginLists waits for the model and returns how the users' lists are
// scored: a general one and one per category the template's offers
// feature. It starts the run summary's part of the step.
func (r *run) beginLists(ctx workflow.Context, model workflow.Future) (activities.Lists, error) {
	var out activities.RecommendModelOutput
	if err := model.Get(ctx, &out); err != nil {
		return activities.Lists{}, fmt.Errorf("recommendations: model: %w", err)
	}
	in := r.in
	r.recs.offerCategories = map[string]string{}
	var cats []string
	for _, id := range in.Spec.Offers {
		if o, ok := in.Catalog.Offer(id); ok && o.FeaturedCategory != "" {
			if _, dup := r.recs.offerCategories[id]; !dup {
				r.recs.offerCategories[id] = o.FeaturedCategory
			}
			if !slices.Contains(cats, o.FeaturedCategory) {
				cats = append(cats, o.FeaturedCategory)
			}
		}
	}
	r.sum.Recommendations = &RecommendSummary{ModelUsers: out.Users, Items: out.Items, Categories: cats, Sources: map[string]int64{}}
	return activities.Lists{ModelKey: out.Key, K: RecommendK, AllowRepeats: in.Spec.RepeatItems, Categories: cats}, nil
}

// addLists counts a block's lists in the run summary and keeps their keys.
func (r *run) addLists(b shard.Block, users int64, sources map[string]int64) {
	for i := b.From; i < b.To; i++ {
		r.recs.keys = append(r.recs.keys, layout.Recommendations(r.in.RunID, i))
	}
	sum := r.sum.Recommendations
	sum.Users += users
	for s, n := range sources {
		sum.Sources[s] += n
	}
}

// recommend trains the recommendation model on a bounded sample of users,
// writes every shard's users' ranked lists (a general one and one per
// category the template's offers feature), and publishes them as
// runs/<run>/recommendations.parquet. The plan rows pick their list in
// DecideAssign. Runs since listsVersion score the lists in the features
// pass instead.
func (r *run) recommend(ctx workflow.Context) error {
	in := r.in
	actx := withActivityOptions(ctx)
	lists, err := r.beginLists(ctx, r.startRecommendModel(ctx, r.sum.Users))
	if err != nil {
		return err
	}
	// One activity per block of shards (shard.Blocks), as the features
	// stage: the history stays bounded whatever the shard count.
	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	outs := make([]activities.RecommendOutput, len(blocks))
	err = fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.Recommend, activities.RecommendInput{
				RunID: in.RunID, Block: blocks[i], End: r.end, Lists: lists,
			})
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &outs[i]) })
	if err != nil {
		return err
	}
	for i, o := range outs {
		r.addLists(blocks[i], o.Users, o.Sources)
	}
	return r.recommendTable(ctx)
}

// recommendTable publishes the shards' lists as
// runs/<run>/recommendations.parquet.
func (r *run) recommendTable(ctx workflow.Context) error {
	var table activities.RecommendationsTableOutput
	err := workflow.ExecuteActivity(withActivityOptions(ctx), a.RecommendationsTable, activities.RecommendationsTableInput{
		RunID: r.in.RunID, Keys: r.recs.keys,
	}).Get(ctx, &table)
	if err != nil {
		return fmt.Errorf("table: %w", err)
	}
	sum := r.sum.Recommendations
	sum.Table, sum.Rows = table.URL, table.Rows
	r.track.detail(StageFeatures, fmt.Sprintf("recommendations for %d users", sum.Users))
	return nil
}
