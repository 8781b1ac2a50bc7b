package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/interest"
	"github.com/promoflow/promoflow/internal/shard"
)

// SampleSize is about how many users the features stage samples (by a
// seeded hash, the same users whatever the shard count) for the global
// quantiles and the choice of k.
const SampleSize = 20000

// FeaturesSummary is the features stage in the run summary.
type FeaturesSummary struct {
	Table        string          `json:"table"` // runs/<run>/features.parquet
	Users        int64           `json:"users"`
	Events       int64           `json:"events"`
	Skipped      int64           `json:"skipped_events"` // no user id or unknown type
	TrainRows    int64           `json:"train_rows"`
	Positives    int64           `json:"positives"` // training users who bought in the label window
	Names        []string        `json:"names"`
	TermsCounted int             `json:"terms_counted"` // distinct terms before pruning
	Vocabulary   int             `json:"vocabulary"`
	TopTerms     []interest.Term `json:"top_terms"` // by share of users
	PricedItems  int             `json:"priced_items"`
	Sample       int             `json:"sample"`
	// Quantiles of the behaviour features over the sample.
	Quantiles map[string]map[string]float64 `json:"quantiles"`
}

// vocabRef is the run's vocabulary, for the steps that read it later.
type vocabRef struct {
	key  string
	docs int64
}

// featureStats are the features stage's global statistics that later
// stages use.
type featureStats struct {
	sampleKeys []string
	quantiles  features.Quantiles
	sketched   bool // the features pass wrote the training sketches (sketchVersion)
}

// sketchVersion marks the training features' sketches written by the
// features pass as it writes the training rows: the train stage's
// SketchShard activities read every training table again for them, on
// the stage's critical path. Runs recorded before it sketch in the train
// stage.
const sketchVersion = "train-sketch-in-features"

// features runs the profile pass (document frequencies and item prices
// per block of shards, merged into the vocabulary and reference prices), then the
// features pass (per-user tables with global IDF, moments, samples), then
// the quantiles of the sample; it reduces the scaler and the default
// basket that later stages share. The recommendation model trains beside
// the vocabulary and the features pass writes the users' lists too
// (listsVersion).
func (r *run) features(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageFeatures, 2*in.Shards)
	actx := withActivityOptions(ctx)
	cfg := interest.DefaultConfig()

	withLists := r.listsWithFeatures(ctx)
	r.feat.sketched = workflow.GetVersion(ctx, sketchVersion, workflow.DefaultVersion, 1) == 1
	// One activity per block of shards (shard.Blocks); a worker keeps the
	// events of the shards it has in flight from Profile to Features.
	blocks := shard.Blocks(in.Shards, in.ShardBlocks)
	window := in.Window * blocks[0].Len()
	profiles := make([]activities.ProfileOutput, len(blocks))
	err := fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.Profile, activities.ProfileInput{RunID: in.RunID, Block: blocks[i], End: r.end, Interest: cfg, Window: window})
		},
		func(i int, f workflow.Future) error {
			r.track.stage(StageFeatures).Done += blocks[i].Len()
			return f.Get(ctx, &profiles[i])
		})
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	fs := &FeaturesSummary{Names: features.Names}
	vin := activities.VocabularyInput{RunID: in.RunID, Interest: cfg, Top: 20}
	for _, p := range profiles {
		vin.Docs += p.Users
		fs.Events += p.Events
		fs.Skipped += p.Skipped
		vin.TermsKeys = append(vin.TermsKeys, p.TermsKey)
		vin.PricesKeys = append(vin.PricesKeys, p.PricesKey)
	}
	// The recommendation model trains beside the vocabulary, so that the
	// features pass can score every user's lists (workflows/recommend.go).
	var model workflow.Future
	if withLists {
		model = r.startRecommendModel(ctx, vin.Docs)
	}
	var vocab activities.VocabularyOutput
	if err := workflow.ExecuteActivity(actx, a.Vocabulary, vin).Get(ctx, &vocab); err != nil {
		return fmt.Errorf("vocabulary: %w", err)
	}
	var lists *activities.Lists
	if withLists {
		l, err := r.beginLists(ctx, model)
		if err != nil {
			return err
		}
		lists = &l
	}
	fs.TermsCounted, fs.Vocabulary, fs.TopTerms, fs.PricedItems = vocab.Counted, vocab.Terms, vocab.TopTerms, vocab.Items
	r.vocab = vocabRef{key: vocab.Key, docs: vocab.Docs}
	r.track.detail(StageFeatures, fmt.Sprintf("%d terms of %d", vocab.Terms, vocab.Counted))

	rate := 1.0
	if vin.Docs > SampleSize {
		rate = float64(SampleSize) / float64(vin.Docs)
	}
	feats := make([]activities.FeaturesOutput, len(blocks))
	err = fanOut(ctx, len(blocks), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(actx, a.Features, activities.FeaturesInput{
				RunID: in.RunID, Block: blocks[i], Cutoff: r.cutoff, LabelEnd: r.labelEnd(), End: r.end,
				VocabularyKey: vocab.Key, Docs: vocab.Docs, PricesKey: vocab.PricesKey, Interest: cfg,
				Seed: in.Seed, SampleRate: rate, Window: window, Lists: lists, SketchTrain: r.feat.sketched,
			})
		},
		func(i int, f workflow.Future) error {
			r.track.stage(StageFeatures).Done += blocks[i].Len()
			return f.Get(ctx, &feats[i])
		})
	if err != nil {
		return err
	}
	moments := features.NewMoments(len(features.Names))
	var buyers int64
	var basketSum float64
	for i, f := range feats {
		r.sum.Users += f.Users
		fs.TrainRows += f.TrainRows
		fs.Positives += f.Positives
		fs.Sample += int(f.SampleRows)
		buyers += f.Buyers
		basketSum += f.BasketSum
		r.feat.sampleKeys = append(r.feat.sampleKeys, f.SampleKey)
		if lists != nil {
			r.addLists(blocks[i], f.Listed, f.Sources)
		}
		if err := moments.Merge(f.Moments); err != nil {
			return fmt.Errorf("shards %d..%d: %w", blocks[i].From, blocks[i].To-1, err)
		}
	}
	fs.Users = r.sum.Users
	r.sum.Features = fs
	if err := r.enoughData(fs); err != nil {
		return err
	}
	if buyers > 0 {
		r.defaultBasket = basketSum / float64(buyers)
	}
	err = workflow.ExecuteActivity(actx, a.Quantiles, activities.QuantilesInput{Keys: r.feat.sampleKeys}).Get(ctx, &r.feat.quantiles)
	if err != nil {
		return fmt.Errorf("quantiles: %w", err)
	}
	if r.scaler, err = features.NewScaler(features.SegmentNames, moments, r.feat.quantiles); err != nil {
		return err
	}
	fs.Quantiles = map[string]map[string]float64{}
	for _, name := range features.Behaviour {
		q := map[string]float64{}
		for _, p := range []struct {
			label string
			p     float64
		}{{"p01", 0.01}, {"p25", 0.25}, {"p50", 0.5}, {"p75", 0.75}, {"p99", 0.99}} {
			if v, ok := r.feat.quantiles.At(name, p.p); ok {
				q[p.label] = v
			}
		}
		fs.Quantiles[name] = q
	}
	r.sum.Features = fs
	return nil
}

// The least data a regeneration learns from: fewer users cannot be
// segmented and scored meaningfully; fewer labelled rows (users with events
// before the cutoff), or fewer buyers or non-buyers among them in the label
// window, cannot train the propensity forest (whose leaves hold at least
// 20 rows).
const (
	MinUsers     = 50
	MinTrainRows = 50
	MinPositives = 5 // and as many non-buyers
)

// InsufficientDataType is the error type of a run whose input is too
// small or too short for its label window: not retryable.
const InsufficientDataType = "InsufficientData"

// enoughData fails the run, not retryably, when the features fall short of
// MinUsers, MinTrainRows or MinPositives, with the numbers found and
// needed, before segments and the forest fail on them.
func (r *run) enoughData(fs *FeaturesSummary) error {
	var short []string
	if fs.Users < MinUsers {
		short = append(short, fmt.Sprintf("%d users (need %d)", fs.Users, MinUsers))
	}
	if fs.TrainRows < MinTrainRows {
		short = append(short, fmt.Sprintf("%d labelled users, with events before the cutoff %s (need %d)",
			fs.TrainRows, r.cutoff.Format(time.DateOnly), MinTrainRows))
	}
	if fs.Positives < MinPositives {
		short = append(short, fmt.Sprintf("%d buyers in the label window %s .. %s (need %d)",
			fs.Positives, r.cutoff.Format(time.DateOnly), r.labelEnd().Format(time.DateOnly), MinPositives))
	}
	if neg := fs.TrainRows - fs.Positives; neg < MinPositives {
		short = append(short, fmt.Sprintf("%d labelled users who did not buy in the label window (need %d)", neg, MinPositives))
	}
	if len(short) == 0 {
		return nil
	}
	msg := fmt.Sprintf("too little data to learn from: %s; the input has %d accepted events from %s to %s: give more users or a longer history, or a shorter --horizon-days (now %d) or another --cutoff",
		strings.Join(short, ", "), r.sum.Ingest.Accepted, r.firstEvent().Format(time.DateOnly), r.end.Format(time.DateOnly), r.in.HorizonDays)
	return temporal.NewNonRetryableApplicationError(msg, InsufficientDataType, nil)
}

// firstEvent is the earliest accepted event of the run's events sources.
func (r *run) firstEvent() time.Time {
	var first time.Time
	for _, s := range r.sum.Ingest.Sources {
		if s.Table == canon.EventsName && s.Accepted > 0 && (first.IsZero() || s.MinTS.Before(first)) {
			first = s.MinTS
		}
	}
	return first
}
