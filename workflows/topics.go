package workflows

import (
	"cmp"
	"fmt"
	"slices"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/lda"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/shard"
)

// topicsVersion marks the topics step after the segment stage. The step
// runs only when RegenerateInput.Topics is set, and the marker is only
// recorded then: default runs' histories and plans do not change.
const topicsVersion = "topics"

// The topics step's settings (docs/FEATURES.md, "Topics").
const (
	// TopicTerms bounds the topics' vocabulary to the run vocabulary's
	// most frequent terms: λ is Topics × TopicTerms floats.
	TopicTerms = 2000
	// TopicPasses is the passes (epochs) over the shards.
	TopicPasses = 3
	// TopicBatches is the M-steps per pass: each E-steps a contiguous
	// range of about Shards/TopicBatches shards.
	TopicBatches = 2
	// TopicWords is the top words per topic in the summary.
	TopicWords = 10
	// SegmentTopicsTop is the dominant topics listed per segment.
	SegmentTopicsTop = 3
)

// TopicsSummary is the topics step in the run summary.
type TopicsSummary struct {
	K           int   `json:"k"`
	Terms       int   `json:"terms"` // the topics' vocabulary
	Docs        int64 `json:"docs"`  // users
	Updates     int   `json:"updates"`
	Planned     int   `json:"planned_updates"` // passes × batches; fewer when the history budget ran out
	BatchShards int   `json:"batch_shards"`
	// Topics are every topic's top words with their share of the topic.
	Topics [][]interest.Term `json:"topics"`
	// Segments are each segment's dominant topics: mean θ over its users
	// with a non-empty document.
	Segments []SegmentTopics `json:"segments,omitempty"`
	Table    string          `json:"table"` // prefix of the per-shard θ tables (runs/<run>/topics/users/)
}

// SegmentTopics is a segment's dominant topics.
type SegmentTopics struct {
	Segment int          `json:"segment"`
	Name    string       `json:"name"`
	Docs    int64        `json:"docs"`
	Topics  []TopicShare `json:"topics"`
}

// TopicShare is a topic's mean share of a segment's users' texts.
type TopicShare struct {
	Topic int     `json:"topic"`
	Share float64 `json:"share"`
}

// topics fits LDA over the users' texts by online variational Bayes: per
// update, the E-step fans out over the blocks of a batch of shards
// (statistics to the bucket) and one activity reduces them into the next λ
// (the M-step); then every user's θ is written and summed per segment.
// λ and the statistics stay in the bucket; the history carries keys.
func (r *run) topics(ctx workflow.Context) error {
	in := r.in
	if in.Topics == 0 {
		return nil
	}
	if workflow.GetVersion(ctx, topicsVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	actx := withActivityOptions(ctx)
	cfg := lda.DefaultConfig(in.Topics)
	cfg.Passes, cfg.Seed = TopicPasses, uint64(in.Seed)
	icfg := interest.DefaultConfig()
	batchShards := (in.Shards + TopicBatches - 1) / TopicBatches
	var init activities.TopicsInitOutput
	err := workflow.ExecuteActivity(actx, a.TopicsInit, activities.TopicsInitInput{
		RunID: in.RunID, VocabularyKey: r.vocab.key, Docs: r.vocab.docs, Terms: TopicTerms, Config: cfg,
	}).Get(ctx, &init)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	schedule := lda.Schedule(in.Shards, batchShards, cfg.Passes)
	sum := &TopicsSummary{K: in.Topics, Terms: init.Terms, Docs: r.sum.Users, Planned: len(schedule), BatchShards: batchShards}
	lambda := init.LambdaKey
	assignEvents := fanOutEvents(len(shard.Blocks(in.Shards, in.ShardBlocks)))
	var room historyRoom
	for t, batch := range schedule {
		from, to := batch[0], batch[1]
		blocks := shard.Blocks(to-from, in.ShardBlocks)
		if t > 0 && !room.fits(ctx, fanOutEvents(len(blocks))+assignEvents) {
			break // the assignment must still fit: fewer updates, said in the summary
		}
		room.begin(ctx)
		outs := make([]activities.TopicsEStepOutput, len(blocks))
		err := fanOut(ctx, len(blocks), in.Window,
			func(i int) workflow.Future {
				b := shard.Block{From: from + blocks[i].From, To: from + blocks[i].To}
				return workflow.ExecuteActivity(actx, a.TopicsEStep, activities.TopicsEStepInput{
					RunID: in.RunID, Block: b, VocabularyKey: init.VocabularyKey, Docs: r.vocab.docs,
					LambdaKey: lambda, Update: t, Config: cfg, Interest: icfg, End: r.end,
				})
			},
			func(i int, f workflow.Future) error { return f.Get(ctx, &outs[i]) })
		if err != nil {
			return fmt.Errorf("e-step %d: %w", t, err)
		}
		// Every update names the topics (a few kB): the last one done is
		// the fit's, however many the history budget allowed.
		uin := activities.TopicsUpdateInput{
			RunID: in.RunID, LambdaKey: lambda, Update: t, Config: cfg, Docs: r.sum.Users,
			Shards: in.Shards, BatchShards: batchShards, VocabularyKey: init.VocabularyKey, Top: TopicWords,
		}
		for _, o := range outs {
			uin.StatsKeys = append(uin.StatsKeys, o.Key)
		}
		var up activities.TopicsUpdateOutput
		if err := workflow.ExecuteActivity(actx, a.TopicsUpdate, uin).Get(ctx, &up); err != nil {
			return fmt.Errorf("m-step %d: %w", t, err)
		}
		room.end(ctx)
		lambda, sum.Updates, sum.Topics = up.LambdaKey, t+1, up.Topics
	}
	r.track.detail(StageSegment, fmt.Sprintf("%d topics over %d terms, %d updates", sum.K, sum.Terms, sum.Updates))

	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	assigned := make([]activities.TopicsAssignOutput, len(blocks))
	err = fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.TopicsAssign, activities.TopicsAssignInput{
				RunID: in.RunID, Block: blocks[i], VocabularyKey: init.VocabularyKey, Docs: r.vocab.docs,
				LambdaKey: lambda, Config: cfg, Interest: icfg, End: r.end, Segments: len(r.sum.Segments),
			})
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &assigned[i]) })
	if err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	sum.Segments = segmentTopics(r.sum.Segments, assigned, cfg.K)
	sum.Table = layout.TopicsDir(in.RunID)
	r.sum.Topics = sum
	return nil
}

// segmentTopics reduces the blocks' θ sums, in shard order, into each
// segment's SegmentTopicsTop dominant topics (ties by topic).
func segmentTopics(segs []segment.Profile, blocks []activities.TopicsAssignOutput, k int) []SegmentTopics {
	out := make([]SegmentTopics, len(segs))
	sums := make([][]float64, len(segs))
	for s, p := range segs {
		out[s] = SegmentTopics{Segment: p.ID, Name: p.Name}
		sums[s] = make([]float64, k)
	}
	for _, b := range blocks {
		for s := range min(len(segs), len(b.SegmentTheta)) {
			out[s].Docs += b.SegmentDocs[s]
			for j, x := range b.SegmentTheta[s] {
				sums[s][j] += x
			}
		}
	}
	for s := range out {
		if out[s].Docs == 0 {
			continue
		}
		shares := make([]TopicShare, k)
		for j := range k {
			shares[j] = TopicShare{Topic: j, Share: sums[s][j] / float64(out[s].Docs)}
		}
		slices.SortStableFunc(shares, func(a, b TopicShare) int { return cmp.Compare(b.Share, a.Share) })
		out[s].Topics = shares[:min(SegmentTopicsTop, k)]
	}
	return out
}
