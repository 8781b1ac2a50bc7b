package workflows

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
)

// topicsCalls records the topics step's activity calls.
type topicsCalls struct {
	mu      sync.Mutex
	init    int
	estep   []activities.TopicsEStepInput
	update  []activities.TopicsUpdateInput
	assign  []activities.TopicsAssignInput
	lambdas []string
}

func TestRegenerateTopics(t *testing.T) {
	for _, topics := range []int{0, 3} {
		t.Run(fmt.Sprint("topics=", topics), func(t *testing.T) {
			env := newEnv(t, nil)
			var c topicsCalls
			env.OnActivity("TopicsInit", mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.TopicsInitInput) (activities.TopicsInitOutput, error) {
					c.mu.Lock()
					defer c.mu.Unlock()
					c.init++
					if in.VocabularyKey != "vocabulary" || in.Docs != 400 || in.Terms != TopicTerms || in.Config.K != topics {
						return activities.TopicsInitOutput{}, fmt.Errorf("init input %+v", in)
					}
					return activities.TopicsInitOutput{VocabularyKey: "topics-vocabulary", LambdaKey: layout.TopicsLambda(in.RunID, 0), Terms: 50}, nil
				})
			env.OnActivity("TopicsEStep", mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.TopicsEStepInput) (activities.TopicsEStepOutput, error) {
					c.mu.Lock()
					defer c.mu.Unlock()
					c.estep = append(c.estep, in)
					return activities.TopicsEStepOutput{Key: layout.TopicsStats(in.RunID, in.Update, in.Block.From), Docs: 100 * int64(in.Block.Len())}, nil
				})
			env.OnActivity("TopicsUpdate", mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.TopicsUpdateInput) (activities.TopicsUpdateOutput, error) {
					c.mu.Lock()
					defer c.mu.Unlock()
					c.update = append(c.update, in)
					c.lambdas = append(c.lambdas, in.LambdaKey)
					return activities.TopicsUpdateOutput{LambdaKey: layout.TopicsLambda(in.RunID, in.Update+1),
						Topics: [][]interest.Term{{{Term: fmt.Sprint("w", in.Update), Weight: 0.5}}}}, nil
				})
			env.OnActivity("TopicsAssign", mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.TopicsAssignInput) (activities.TopicsAssignOutput, error) {
					c.mu.Lock()
					defer c.mu.Unlock()
					c.assign = append(c.assign, in)
					n := 100 * float64(in.Block.Len())
					return activities.TopicsAssignOutput{Docs: int64(2 * n),
						SegmentTheta: [][]float64{{0.2 * n, 0.7 * n, 0.1 * n}, {0.6 * n, 0.1 * n, 0.3 * n}},
						SegmentDocs:  []int64{int64(n), int64(n)}}, nil
				})
			in := testInput()
			in.Topics = topics
			env.ExecuteWorkflow(Regenerate, in)
			if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
				t.Fatalf("workflow: completed %v, err %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
			}
			var sum Summary
			if err := env.GetWorkflowResult(&sum); err != nil {
				t.Fatal(err)
			}
			if topics == 0 {
				if sum.Topics != nil || c.init+len(c.estep)+len(c.update)+len(c.assign) != 0 {
					t.Fatalf("topics off: summary %+v, %d init, %d e-steps, %d updates, %d assigns; want none",
						sum.Topics, c.init, len(c.estep), len(c.update), len(c.assign))
				}
				return
			}
			// 4 shards in batches of 2, 3 passes: 6 updates, each E-step
			// over one batch's 2 shards; every pass covers every shard once.
			want := lda6(testShards)
			if len(c.update) != len(want) || sum.Topics == nil || sum.Topics.Updates != len(want) || sum.Topics.Planned != len(want) {
				t.Fatalf("%d updates, summary %+v; want %d", len(c.update), sum.Topics, len(want))
			}
			covered := map[int]int{}
			for _, e := range c.estep {
				for i := e.Block.From; i < e.Block.To; i++ {
					covered[i]++
				}
				b := want[e.Update]
				if e.Block.From < b[0] || e.Block.To > b[1] || e.LambdaKey != layout.TopicsLambda("t-1", e.Update) {
					t.Errorf("e-step %+v: outside update %d's shards %v or not against its λ", e.Block, e.Update, b)
				}
			}
			for i := range testShards {
				if covered[i] != TopicPasses {
					t.Errorf("shard %d: %d e-steps, want one per pass (%d)", i, covered[i], TopicPasses)
				}
			}
			for u, up := range c.update {
				if up.Update != u || up.LambdaKey != layout.TopicsLambda("t-1", u) || up.Docs != 400 || len(up.StatsKeys) != 2 {
					t.Errorf("update %d: %+v", u, up)
				}
			}
			if len(c.assign) != len(shard.Blocks(testShards, DefaultShardBlocks)) || c.assign[0].LambdaKey != layout.TopicsLambda("t-1", 6) || c.assign[0].Segments != 2 {
				t.Errorf("assign calls %+v: want one per block against the last λ, 2 segments", c.assign)
			}
			ts := sum.Topics
			if ts.Topics[0][0].Term != "w5" || ts.Docs != 400 || ts.Terms != 50 {
				t.Errorf("summary %+v: want the last update's words, 400 docs, 50 terms", ts)
			}
			if len(ts.Segments) != 2 || ts.Segments[0].Docs != 400 ||
				!slices.Equal(topicIDs(ts.Segments[0].Topics), []int{1, 0, 2}) || !slices.Equal(topicIDs(ts.Segments[1].Topics), []int{0, 2, 1}) ||
				ts.Segments[0].Topics[0].Share < 0.7-1e-9 || ts.Segments[0].Topics[0].Share > 0.7+1e-9 {
				t.Errorf("segments %+v: want segment 0 mostly topic 1 (0.7), segment 1 mostly topic 0", ts.Segments)
			}
		})
	}
}

// lda6 is the schedule of the test's run: 3 passes over 2 batches.
func lda6(shards int) [][2]int {
	var out [][2]int
	for range TopicPasses {
		out = append(out, [2]int{0, shards / 2}, [2]int{shards / 2, shards})
	}
	return out
}

func topicIDs(ts []TopicShare) []int {
	var out []int
	for _, t := range ts {
		out = append(out, t.Topic)
	}
	return out
}
