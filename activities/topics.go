package activities

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/lda"
	"github.com/promoflow/promoflow/internal/shard"
)

// The topics step (internal/lda, workflows/topics.go): LDA over users'
// texts by online variational Bayes. λ (K×V floats) and the per-block
// sufficient statistics live in the bucket; only keys and counts go
// through the workflow.

// TopicsSchema is a shard's users with their topic proportions: the
// dominant topic and θ.
var TopicsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "topic", Type: arrow.PrimitiveTypes.Int32},
	{Name: "theta", Type: arrow.ListOf(arrow.PrimitiveTypes.Float32)},
}, nil)

// TopicsInitInput asks for the topics' vocabulary and starting topics.
type TopicsInitInput struct {
	RunID         string
	VocabularyKey string // the run's vocabulary (Vocabulary)
	Docs          int64  // its documents
	Terms         int    // most frequent terms kept
	Config        lda.Config
}

// TopicsInitOutput says where the vocabulary and λ₀ are.
type TopicsInitOutput struct {
	VocabularyKey string
	LambdaKey     string
	Terms         int
}

// TopicsInit bounds the run's vocabulary to its Terms most frequent terms
// (ties by term) and stores it with the seeded starting topics.
func (a *Activities) TopicsInit(ctx context.Context, in TopicsInitInput) (_ TopicsInitOutput, err error) {
	defer final(&err)
	df := interest.Counts{}
	if err := a.readArrow(ctx, in.VocabularyKey, interest.CountsSchema, func(rec arrow.Record) error { return interest.ReadCounts(rec, df) }); err != nil {
		return TopicsInitOutput{}, err
	}
	v := interest.NewVocabulary(df, in.Docs, interest.Config{MinDF: 0, MaxDF: 1, MaxTerms: in.Terms})
	if v.Len() == 0 {
		return TopicsInitOutput{}, fmt.Errorf("topics: the run's vocabulary is empty")
	}
	out := TopicsInitOutput{VocabularyKey: layout.TopicsVocabulary(in.RunID), LambdaKey: layout.TopicsLambda(in.RunID, 0), Terms: v.Len()}
	rec := v.Record(a.mem())
	err = a.writeArrow(ctx, out.VocabularyKey, interest.CountsSchema, rec)
	rec.Release()
	if err != nil {
		return TopicsInitOutput{}, err
	}
	cfg := in.Config
	cfg.Defaults()
	if err := a.putGob(ctx, out.LambdaKey, lda.NewModel(cfg.K, v.Len(), cfg.Seed)); err != nil {
		return TopicsInitOutput{}, err
	}
	return out, nil
}

// TopicsEStepInput asks for the E-step of a block of shards against the
// topics after update Update.
type TopicsEStepInput struct {
	RunID         string
	Block         shard.Block
	VocabularyKey string
	Docs          int64 // the run vocabulary's documents (for its IDF; unused by LDA)
	LambdaKey     string
	Update        int
	Config        lda.Config
	Interest      interest.Config // event weights of the documents
	End           time.Time       // events after it are not read
}

// TopicsEStepOutput says where the block's statistics are.
type TopicsEStepOutput struct {
	Key  string
	Docs int64 // documents (users) of the block, empty ones included
}

// TopicsEStep runs the per-document E-step over every user of a block of
// shards and stores the block's summed sufficient statistics.
func (a *Activities) TopicsEStep(ctx context.Context, in TopicsEStepInput) (_ TopicsEStepOutput, err error) {
	defer final(&err)
	t, err := a.loadTopics(ctx, in.VocabularyKey, in.Docs, in.LambdaKey, in.Config, in.Interest)
	if err != nil {
		return TopicsEStepOutput{}, err
	}
	s := lda.NewStats(t.model.K, t.model.V)
	for i := in.Block.From; i < in.Block.To; i++ {
		err := a.eachTopicDoc(ctx, in.RunID, i, t, in.End, func(_ string, doc lda.Doc) error {
			lda.EStep(t.cfg, t.eb, t.model.K, t.model.V, doc, s)
			return nil
		})
		if err != nil {
			return TopicsEStepOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	out := TopicsEStepOutput{Key: layout.TopicsStats(in.RunID, in.Update, in.Block.From), Docs: s.Docs}
	if err := a.putGob(ctx, out.Key, s); err != nil {
		return TopicsEStepOutput{}, err
	}
	return out, nil
}

// TopicsUpdateInput asks for the M-step of update Update.
type TopicsUpdateInput struct {
	RunID               string
	LambdaKey           string   // the topics the E-steps ran against
	StatsKeys           []string // the batch's blocks' statistics, in shard order
	Update              int      // updates done before this one
	Config              lda.Config
	Docs                int64 // D: documents over all shards
	Shards, BatchShards int   // the driver's batches
	VocabularyKey       string
	Top                 int // when positive, the top words of every topic are returned
}

// TopicsUpdateOutput says where the new topics are.
type TopicsUpdateOutput struct {
	LambdaKey string
	Docs      int64 // documents of the batch
	// Topics are every topic's Top heaviest words with their share of the
	// topic (only when asked: the last update).
	Topics [][]interest.Term `json:",omitempty"`
}

// TopicsUpdate merges the batch's statistics in shard order and blends
// them into λ (the M-step), storing the result as update Update+1.
func (a *Activities) TopicsUpdate(ctx context.Context, in TopicsUpdateInput) (_ TopicsUpdateOutput, err error) {
	defer final(&err)
	var m lda.Model
	if err := a.getGob(ctx, in.LambdaKey, &m); err != nil {
		return TopicsUpdateOutput{}, err
	}
	s := lda.NewStats(m.K, m.V)
	for _, key := range in.StatsKeys {
		var b lda.Stats
		if err := a.getGob(ctx, key, &b); err != nil {
			return TopicsUpdateOutput{}, err
		}
		if err := s.Merge(&b); err != nil {
			return TopicsUpdateOutput{}, fmt.Errorf("%s: %w", key, err)
		}
	}
	d, err := lda.Resume(in.Config, &m, in.Docs, in.Shards, in.BatchShards, in.Update)
	if err != nil {
		return TopicsUpdateOutput{}, err
	}
	if err := d.Update(s, m.ExpElogBeta()); err != nil {
		return TopicsUpdateOutput{}, err
	}
	out := TopicsUpdateOutput{LambdaKey: layout.TopicsLambda(in.RunID, in.Update+1), Docs: s.Docs}
	if err := a.putGob(ctx, out.LambdaKey, d.Model()); err != nil {
		return TopicsUpdateOutput{}, err
	}
	if in.Top > 0 {
		v, _, err := a.loadVocabulary(ctx, in.VocabularyKey, 1, "")
		if err != nil {
			return TopicsUpdateOutput{}, err
		}
		for k := range m.K {
			var words []interest.Term
			for _, w := range d.Model().Topic(k, in.Top) {
				words = append(words, interest.Term{Term: v.Terms[w.Index], Weight: w.Weight})
			}
			out.Topics = append(out.Topics, words)
		}
	}
	return out, nil
}

// TopicsAssignInput asks for the topic proportions of a block of shards'
// users, summed per segment.
type TopicsAssignInput struct {
	RunID         string
	Block         shard.Block
	VocabularyKey string
	Docs          int64
	LambdaKey     string // the final topics
	Config        lda.Config
	Interest      interest.Config
	End           time.Time
	Segments      int // k: the run's segments (layout.Segments); 0: none read
}

// TopicsAssignOutput are the block's documents and θ summed per segment
// (Segments × K; users with an empty document are left out).
type TopicsAssignOutput struct {
	Docs         int64
	SegmentTheta [][]float64
	SegmentDocs  []int64
}

// TopicsAssign writes every user's θ and dominant topic (layout.Topics)
// and sums θ per segment for the segments' dominant topics.
func (a *Activities) TopicsAssign(ctx context.Context, in TopicsAssignInput) (_ TopicsAssignOutput, err error) {
	defer final(&err)
	t, err := a.loadTopics(ctx, in.VocabularyKey, in.Docs, in.LambdaKey, in.Config, in.Interest)
	if err != nil {
		return TopicsAssignOutput{}, err
	}
	k := t.model.K
	out := TopicsAssignOutput{SegmentTheta: make([][]float64, in.Segments), SegmentDocs: make([]int64, in.Segments)}
	for s := range out.SegmentTheta {
		out.SegmentTheta[s] = make([]float64, k)
	}
	for i := in.Block.From; i < in.Block.To; i++ {
		segs, err := a.readSegments(ctx, in.RunID, i, in.Segments)
		if err != nil {
			return TopicsAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		b := array.NewRecordBuilder(a.mem(), TopicsSchema)
		users := b.Field(0).(*array.StringBuilder)
		tops := b.Field(1).(*array.Int32Builder)
		lb := b.Field(2).(*array.ListBuilder)
		vb := lb.ValueBuilder().(*array.Float32Builder)
		err = a.eachTopicDoc(ctx, in.RunID, i, t, in.End, func(user string, doc lda.Doc) error {
			theta := lda.Theta(lda.EStep(t.cfg, t.eb, k, t.model.V, doc, nil))
			top := 0
			for j := range theta {
				if theta[j] > theta[top] {
					top = j
				}
			}
			users.Append(user)
			tops.Append(int32(top))
			lb.Append(true)
			for _, x := range theta {
				vb.Append(float32(x))
			}
			out.Docs++
			if s, ok := segs[user]; ok && len(doc.Index) > 0 && int(s) < in.Segments {
				out.SegmentDocs[s]++
				for j, x := range theta {
					out.SegmentTheta[s][j] += x
				}
			}
			return nil
		})
		if err != nil {
			b.Release()
			return TopicsAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		rec := b.NewRecord()
		b.Release()
		err = a.writeArrow(ctx, layout.Topics(in.RunID, i), TopicsSchema, rec)
		rec.Release()
		if err != nil {
			return TopicsAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return out, nil
}

// readSegments reads shard i's users' segments; nil when k is 0.
func (a *Activities) readSegments(ctx context.Context, run string, i, k int) (map[string]int32, error) {
	if k == 0 {
		return nil, nil
	}
	segs := map[string]int32{}
	err := a.readArrow(ctx, layout.Segments(run, i), features.SegmentSchema, func(rec arrow.Record) error {
		ids := rec.Column(0).(*array.String)
		seg := rec.Column(1).(*array.Int32)
		for r := 0; r < int(rec.NumRows()); r++ {
			segs[string([]byte(ids.Value(r)))] = seg.Value(r)
		}
		return nil
	})
	return segs, err
}

// topics is what an E-step needs: the configuration, the topics, their
// exp(E[log β]) and the vocabulary.
type topics struct {
	cfg   lda.Config
	model *lda.Model
	eb    []float64
	vocab *interest.Vocabulary
	icfg  interest.Config
}

func (a *Activities) loadTopics(ctx context.Context, vocabKey string, docs int64, lambdaKey string, cfg lda.Config, icfg interest.Config) (*topics, error) {
	vocab, _, err := a.loadVocabulary(ctx, vocabKey, docs, "")
	if err != nil {
		return nil, err
	}
	var m lda.Model
	if err := a.getGob(ctx, lambdaKey, &m); err != nil {
		return nil, err
	}
	if m.V != vocab.Len() {
		return nil, &corruptError{key: lambdaKey, err: fmt.Errorf("topics over %d words, vocabulary of %d", m.V, vocab.Len())}
	}
	cfg.Defaults()
	if icfg == (interest.Config{}) {
		icfg = interest.DefaultConfig()
	}
	return &topics{cfg: cfg, model: &m, eb: m.ExpElogBeta(), vocab: vocab, icfg: icfg}, nil
}

// eachTopicDoc calls fn with every user of shard i that has an event up
// to end, in user id order, and their document over the topics'
// vocabulary.
func (a *Activities) eachTopicDoc(ctx context.Context, run string, i int, t *topics, end time.Time, fn func(user string, doc lda.Doc) error) error {
	evs, err := a.loadEvents(ctx, run, i)
	if err != nil {
		return err
	}
	var sp interest.Sparse
	p := features.Params{Interest: t.icfg, Vocab: t.vocab}
	return evs.EachDoc(p, end, func(user string, d *interest.Doc) error {
		d.CountsTo(&sp)
		return fn(user, lda.Doc{Index: sp.Index, Count: sp.Weight})
	})
}

// putGob stores v gob-encoded at key.
func (a *Activities) putGob(ctx context.Context, key string, v any) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return a.Store.Put(ctx, key, buf.Bytes())
}

// getGob reads the gob-encoded object at key into v.
func (a *Activities) getGob(ctx context.Context, key string, v any) error {
	data, err := a.Store.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		return &corruptError{key: key, err: err}
	}
	return nil
}
