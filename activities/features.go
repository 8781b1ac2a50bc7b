package activities

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/shard"
)

// loadEvents reads every event piece of shard i.
func (a *Activities) loadEvents(ctx context.Context, run string, i int) (*features.Events, error) {
	keys, err := a.Store.List(ctx, layout.EventsDir(run, i))
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("shard %d: no event pieces under %s", i, layout.EventsDir(run, i))
	}
	evs := &features.Events{}
	for _, key := range keys {
		if err := a.readArrowStream(ctx, key, canon.EventSchema, evs.AddRecord); err != nil {
			return nil, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return evs, nil
}

// shardEvents returns shard i's events, from the worker's cache when the
// Profile activity left them there, and a function the activity calls when
// done: with the events to keep them for the next pass (nil: not kept).
func (a *Activities) shardEvents(ctx context.Context, run string, i, window int) (*features.Events, func(keep *features.Events), error) {
	key := eventsKey(ctx, run, i)
	done := func(keep *features.Events) {
		if a.events.release(key, i, window, a.eventsLimit(), keep) {
			a.events.spill(key, keep, a.eventsSpill())
		}
	}
	if evs := a.events.take(key); evs != nil {
		return evs, done, nil
	}
	for _, v := range a.events.reserve(window) {
		a.events.spill(v.key, v.evs, a.eventsSpill())
	}
	if evs := a.events.takeSpilled(key); evs != nil {
		return evs, done, nil
	}
	evs, err := a.loadEvents(ctx, run, i)
	if err != nil {
		done(nil)
		return nil, nil, err
	}
	return evs, done, nil
}

// ProfileInput asks for one block of shards' share of the global
// statistics.
type ProfileInput struct {
	RunID    string
	Block    shard.Block
	End      time.Time // events after it are not counted
	Interest interest.Config
	// Window is the number of shards in flight: a worker keeps up to that
	// many shards' events from Profile to Features (0: none).
	Window int
}

// ProfileOutput counts the block and says where its document frequencies
// and item prices are.
type ProfileOutput struct {
	Users     int64 // users with an event up to End: the block's documents
	Events    int64 // events up to End
	Skipped   int64 // events without a user id or with an unknown type
	Terms     int   // distinct terms in the block
	TermsKey  string
	PricesKey string
}

// Profile is the map side of the profile pass: it counts, in a block of
// shards, the document frequency of every term and the purchase lines of
// every item at every price (integer counts: the sums do not depend on how
// shards are grouped), and stores both, one object each for the block.
// Only counts return to the workflow.
func (a *Activities) Profile(ctx context.Context, in ProfileInput) (_ ProfileOutput, err error) {
	defer final(&err)
	out := ProfileOutput{
		TermsKey: layout.ProfileTerms(in.RunID, in.Block.From), PricesKey: layout.ProfilePrices(in.RunID, in.Block.From),
	}
	df, prices := interest.Counts{}, features.PriceCounts{}
	for i := in.Block.From; i < in.Block.To; i++ {
		p, skipped, err := a.profileShard(ctx, in, i)
		if err != nil {
			return ProfileOutput{}, err
		}
		out.Users += p.Users
		out.Events += p.Events
		out.Skipped += skipped
		if in.Block.Len() == 1 {
			df, prices = p.DF, p.Prices
			break
		}
		df.Merge(p.DF)
		prices.Merge(p.Prices)
	}
	out.Terms = len(df)
	rec := interest.CountsRecord(df, a.mem())
	err = a.writeArrow(ctx, out.TermsKey, interest.CountsSchema, rec)
	rec.Release()
	if err != nil {
		return ProfileOutput{}, fmt.Errorf("shards %d..%d: %w", in.Block.From, in.Block.To-1, err)
	}
	rec = features.PricesRecord(prices, a.mem())
	err = a.writeArrow(ctx, out.PricesKey, features.PricesSchema, rec)
	rec.Release()
	if err != nil {
		return ProfileOutput{}, fmt.Errorf("shards %d..%d: %w", in.Block.From, in.Block.To-1, err)
	}
	return out, nil
}

// profileShard profiles shard i's events and leaves them in the worker's
// cache for the Features pass.
func (a *Activities) profileShard(ctx context.Context, in ProfileInput, i int) (features.Profile, int64, error) {
	evs, done, err := a.shardEvents(ctx, in.RunID, i, in.Window)
	if err != nil {
		return features.Profile{}, 0, err
	}
	p := evs.Profile(in.Interest, in.End)
	done(evs)
	return p, evs.Skipped, nil
}

// VocabularyInput lists the blocks' profile objects, in shard order.
type VocabularyInput struct {
	RunID      string
	TermsKeys  []string
	PricesKeys []string
	Docs       int64 // documents (users) over all shards
	Interest   interest.Config
	Top        int // most frequent terms to return
}

// VocabularyOutput describes the vocabulary and the reference prices.
type VocabularyOutput struct {
	Key       string
	PricesKey string
	Docs      int64
	Counted   int // distinct terms before pruning
	Terms     int // in the vocabulary
	Items     int // items with a reference price
	// TopTerms are the vocabulary's most frequent terms, weighted by their
	// document frequency over Docs.
	TopTerms []interest.Term
}

// Vocabulary is the reduce side of the profile pass: it merges the blocks'
// document frequencies (integer sums: the result does not depend on the
// number of shards), prunes them into the vocabulary, merges the item
// prices into reference prices, and stores both.
func (a *Activities) Vocabulary(ctx context.Context, in VocabularyInput) (_ VocabularyOutput, err error) {
	defer final(&err)
	if err := in.Interest.Validate(); err != nil {
		return VocabularyOutput{}, err
	}
	df := interest.Counts{}
	for _, key := range in.TermsKeys {
		if err := a.readArrow(ctx, key, interest.CountsSchema, func(rec arrow.Record) error { return interest.ReadCounts(rec, df) }); err != nil {
			return VocabularyOutput{}, err
		}
	}
	prices := features.PriceCounts{}
	for _, key := range in.PricesKeys {
		if err := a.readArrow(ctx, key, features.PricesSchema, func(rec arrow.Record) error { return features.ReadPrices(rec, prices) }); err != nil {
			return VocabularyOutput{}, err
		}
	}
	v := interest.NewVocabulary(df, in.Docs, in.Interest)
	ref := features.RefPrices(prices)
	out := VocabularyOutput{
		Key: layout.Vocabulary(in.RunID), PricesKey: layout.RefPrices(in.RunID),
		Docs: in.Docs, Counted: len(df), Terms: v.Len(), Items: len(ref),
	}
	rec := v.Record(a.mem())
	err = a.writeArrow(ctx, out.Key, interest.CountsSchema, rec)
	rec.Release()
	if err != nil {
		return VocabularyOutput{}, err
	}
	refCounts := make(features.PriceCounts, len(ref))
	for item, p := range ref {
		refCounts[features.ItemPrice{Item: item, Price: p}] = 1
	}
	rec = features.PricesRecord(refCounts, a.mem())
	err = a.writeArrow(ctx, out.PricesKey, features.PricesSchema, rec)
	rec.Release()
	if err != nil {
		return VocabularyOutput{}, err
	}
	byDF := make([]interest.Term, v.Len())
	for i, t := range v.Terms {
		byDF[i] = interest.Term{Term: t, Weight: float64(v.DF[i]) / float64(max(in.Docs, 1))}
	}
	out.TopTerms = interest.TopTerms(byDF, in.Top)
	return out, nil
}

// loadVocabulary reads the vocabulary and the reference prices.
func (a *Activities) loadVocabulary(ctx context.Context, key string, docs int64, pricesKey string) (*interest.Vocabulary, map[string]float64, error) {
	var v *interest.Vocabulary
	if key != "" {
		df := interest.Counts{}
		if err := a.readArrow(ctx, key, interest.CountsSchema, func(rec arrow.Record) error { return interest.ReadCounts(rec, df) }); err != nil {
			return nil, nil, err
		}
		v = interest.FromCounts(df, docs)
	}
	var ref map[string]float64
	if pricesKey != "" {
		p := features.PriceCounts{}
		if err := a.readArrow(ctx, pricesKey, features.PricesSchema, func(rec arrow.Record) error { return features.ReadPrices(rec, p) }); err != nil {
			return nil, nil, err
		}
		ref = make(map[string]float64, len(p))
		for k := range p {
			ref[k.Item] = k.Price
		}
	}
	return v, ref, nil
}

// FeaturesInput asks for one block of shards' features.
type FeaturesInput struct {
	RunID    string
	Block    shard.Block
	Cutoff   time.Time // training features use events before it
	LabelEnd time.Time // training labels: a purchase in [Cutoff, LabelEnd]
	End      time.Time // scoring features use events up to it
	// The profile pass's results; empty keys leave interests empty and
	// discounts known from deal searches only.
	VocabularyKey string
	Docs          int64
	PricesKey     string
	Interest      interest.Config // zero means interest.DefaultConfig()
	Seed          int64           // seeds the interest projection and the sample
	SampleRate    float64         // share of users written to the sample
	Window        int             // shards in flight (see ProfileInput.Window)
	// Lists, when set, has the pass also write each shard's users' lists
	// (layout.Recommendations) from the events it holds, as Recommend
	// would from the events object.
	Lists *Lists `json:",omitempty"`
	// SketchTrain has the pass also write the block's sketches of the
	// training features (SketchShard's, at the default size) as it
	// writes the training rows, so the train stage need not read them
	// again.
	SketchTrain bool `json:",omitempty"`
}

// FeaturesOutput are the block's counts and the aggregates the workflow
// reduces into global statistics.
type FeaturesOutput struct {
	Users      int64            // users with a scoring row
	TrainRows  int64            // users with history before the cutoff
	Positives  int64            // of those, buyers after the cutoff
	Moments    features.Moments // of transformed scoring features, shards merged in order
	Buyers     int64            // users with an order
	BasketSum  float64          // sum of their average order values, shards summed in order
	SampleKey  string           // the block's sample of scoring rows, shards in order
	SampleRows int64
	// Listed counts the users given lists (FeaturesInput.Lists), Sources
	// the general lists' picks by source.
	Listed  int64            `json:",omitempty"`
	Sources map[string]int64 `json:",omitempty"`
}

// Features reads each shard of a block's events and writes its scoring and
// training feature tables, with interests from the run's vocabulary, and
// one seeded sample of the block's scoring rows.
func (a *Activities) Features(ctx context.Context, in FeaturesInput) (_ FeaturesOutput, err error) {
	defer final(&err)
	cfg := in.Interest
	if cfg == (interest.Config{}) {
		cfg = interest.DefaultConfig()
	}
	vocab, prices, err := a.loadVocabulary(ctx, in.VocabularyKey, in.Docs, in.PricesKey)
	if err != nil {
		return FeaturesOutput{}, fmt.Errorf("shards %d..%d: %w", in.Block.From, in.Block.To-1, err)
	}
	p := features.Params{Cutoff: in.Cutoff, LabelEnd: in.LabelEnd, End: in.End, Interest: cfg, Vocab: vocab, Prices: prices}
	if vocab != nil {
		p.Proj = interest.NewProjection(vocab, features.InterestDim, uint64(in.Seed))
	}
	out := FeaturesOutput{Moments: features.NewMoments(len(features.Names))}
	var sample []features.Row
	var sk trainSketch
	if in.SketchTrain {
		sk = newTrainSketch(0)
	}
	for i := in.Block.From; i < in.Block.To; i++ {
		f, err := a.featuresShard(ctx, in, p, i, &sample, sk)
		if err != nil {
			return FeaturesOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		if in.Block.Len() == 1 {
			out = f
			break
		}
		out.Users += f.Users
		out.TrainRows += f.TrainRows
		out.Positives += f.Positives
		out.Buyers += f.Buyers
		out.BasketSum += f.BasketSum
		out.Listed += f.Listed
		for src, n := range f.Sources {
			if out.Sources == nil {
				out.Sources = map[string]int64{}
			}
			out.Sources[src] += n
		}
		if err := out.Moments.Merge(f.Moments); err != nil {
			return FeaturesOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	if sk != nil {
		if err := a.putTrainSketch(ctx, in.RunID, in.Block, sk.done()); err != nil {
			return FeaturesOutput{}, fmt.Errorf("shards %d..%d: %w", in.Block.From, in.Block.To-1, err)
		}
	}
	out.SampleKey, out.SampleRows = layout.Sample(in.RunID, in.Block.From), int64(len(sample))
	rec := features.Record(sample, false, a.mem())
	err = a.writeArrow(ctx, out.SampleKey, rec.Schema(), rec)
	rec.Release()
	if err != nil {
		return FeaturesOutput{}, fmt.Errorf("shards %d..%d: %w", in.Block.From, in.Block.To-1, err)
	}
	return out, nil
}

// featuresShard writes shard i's scoring and training tables, appends its
// sampled rows to sample, adds its training rows to sk (when not nil) and
// returns its aggregates.
func (a *Activities) featuresShard(ctx context.Context, in FeaturesInput, p features.Params, i int, sample *[]features.Row, sk trainSketch) (FeaturesOutput, error) {
	evs, done, err := a.shardEvents(ctx, in.RunID, i, in.Window)
	if err != nil {
		return FeaturesOutput{}, err
	}
	defer done(nil)
	score, err := a.newRowFile(false)
	if err != nil {
		return FeaturesOutput{}, err
	}
	defer score.close()
	train, err := a.newRowFile(true)
	if err != nil {
		return FeaturesOutput{}, err
	}
	defer train.close()
	out := FeaturesOutput{Moments: features.NewMoments(len(features.Names))}
	aov := features.Index("avg_order_value")
	salt := fmt.Sprintf("%d/features-sample", in.Seed)
	// Rows stream from the events to scratch files: a shard's memory is its
	// events, not its events and all its rows.
	err = evs.EachRow(p, func(s, t *features.Row) error {
		if s != nil {
			out.Moments.Add(features.Transform(s.Values))
			if s.Values[aov] > 0 {
				out.Buyers++
				out.BasketSum += s.Values[aov]
			}
			if shard.Unit(salt, s.UserID) < in.SampleRate {
				*sample = append(*sample, *s)
			}
			if err := score.add(*s); err != nil {
				return err
			}
		}
		if t != nil {
			if t.Label > 0 {
				out.Positives++
			}
			if sk != nil {
				sk.add(t.Values)
			}
			return train.add(*t)
		}
		return nil
	})
	if err != nil {
		return FeaturesOutput{}, err
	}
	out.Users, out.TrainRows = score.rows, train.rows
	if err := score.upload(ctx, layout.Features(in.RunID, i)); err != nil {
		return FeaturesOutput{}, err
	}
	if err := train.upload(ctx, layout.Train(in.RunID, i)); err != nil {
		return FeaturesOutput{}, err
	}
	if in.Lists != nil {
		out.Sources = map[string]int64{}
		if out.Listed, err = a.listsFromEvents(ctx, in.RunID, i, *in.Lists, in.End, evs, out.Sources); err != nil {
			return FeaturesOutput{}, err
		}
	}
	return out, nil
}

// readFeatures reads a feature table (scoring or training) of one shard.
func (a *Activities) readFeatures(ctx context.Context, key string, schema *arrow.Schema) ([]features.Row, error) {
	var rows []features.Row
	err := a.readArrow(ctx, key, schema, func(rec arrow.Record) error {
		r, err := features.Rows(rec)
		rows = append(rows, r...)
		return err
	})
	return rows, err
}

// QuantilesInput lists the blocks' samples, in shard order.
type QuantilesInput struct {
	Keys []string
}

// Quantiles computes the quantiles of every feature over the blocks'
// samples: the clip bounds of the scaler and the spread the summary shows.
func (a *Activities) Quantiles(ctx context.Context, in QuantilesInput) (_ features.Quantiles, err error) {
	defer final(&err)
	var rows [][]float64
	for _, key := range in.Keys {
		err := a.readArrow(ctx, key, features.Schema, func(rec arrow.Record) error {
			return features.EachValues(rec, func(_ string, v []float64) { rows = append(rows, append([]float64(nil), v...)) })
		})
		if err != nil {
			return features.Quantiles{}, err
		}
	}
	return features.QuantilesOf(rows), nil
}

// PublishFeaturesInput names the run whose per-user table to publish.
type PublishFeaturesInput struct {
	RunID        string
	Shards       int
	SegmentNames []string
}

// PublishFeaturesOutput says where the table is.
type PublishFeaturesOutput struct {
	Key  string
	URL  string
	Rows int64
}

// PublishFeatures writes runs/<run>/features.parquet: every user's
// features, top terms, category affinities and segment, shards in order
// (a row group per record batch of the shard's table: at most 16,384 rows).
func (a *Activities) PublishFeatures(ctx context.Context, in PublishFeaturesInput) (_ PublishFeaturesOutput, err error) {
	defer final(&err)
	// Streamed to the bucket in parts as the shards are read: the table
	// grows with the users, memory and scratch space do not.
	key := layout.FeaturesTable(in.RunID)
	obj, err := a.Store.Create(ctx, key)
	if err != nil {
		return PublishFeaturesOutput{}, err
	}
	defer obj.Abort()
	// The Parquet writer closes what it writes to; obj is closed here.
	w, err := features.NewTableWriter(struct{ io.Writer }{obj}, a.mem())
	if err != nil {
		return PublishFeaturesOutput{}, err
	}
	out := PublishFeaturesOutput{Key: key}
	for i := 0; i < in.Shards; i++ {
		segs := map[string]int32{}
		err := a.readArrow(ctx, layout.Segments(in.RunID, i), features.SegmentSchema, func(rec arrow.Record) error {
			ids := rec.Column(0).(*array.String)
			seg := rec.Column(1).(*array.Int32)
			for r := 0; r < int(rec.NumRows()); r++ {
				segs[string([]byte(ids.Value(r)))] = seg.Value(r)
			}
			return nil
		})
		if err != nil {
			return PublishFeaturesOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		err = a.readArrow(ctx, layout.Features(in.RunID, i), features.Schema, func(rec arrow.Record) error {
			n, err := w.Write(rec, segs, in.SegmentNames)
			out.Rows += n
			return err
		})
		if err != nil {
			return PublishFeaturesOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	if err := w.Close(); err != nil {
		return PublishFeaturesOutput{}, err
	}
	if err := obj.Close(); err != nil {
		return PublishFeaturesOutput{}, err
	}
	out.URL = a.Store.URL(out.Key)
	return out, nil
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	panic("unknown feature " + name)
}
