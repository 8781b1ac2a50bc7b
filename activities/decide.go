package activities

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/promoflow/promoflow/internal/adjust"
	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/internal/uplift"
)

// DecidePrepareInput names what the decision reads besides the run's own
// objects.
type DecidePrepareInput struct {
	RunID        string
	Template     string
	Campaign     string
	Start        time.Time
	SuppressDays int
}

// DecidePrepareOutput pins the inputs of the decision so that every shard
// (and every retry) sees the same: a copy of the adjustment state, and the
// contact lists of recent campaigns.
type DecidePrepareOutput struct {
	StateKey    string // the run's copy; "" without a state
	State       *strategy.StateRef
	Retired     []string
	Explore     map[string]float64
	ContactKeys []string // campaigns that started within SuppressDays before Start
}

// DecidePrepare copies the template's adjustment state into the run (the
// evaluation may replace latest.json at any time) and lists the contact
// lists of campaigns started within SuppressDays before the campaign start
// (the campaign itself excluded, so a re-run is not suppressed by itself).
func (a *Activities) DecidePrepare(ctx context.Context, in DecidePrepareInput) (_ DecidePrepareOutput, err error) {
	defer final(&err)
	var out DecidePrepareOutput
	keys, err := a.Store.List(ctx, adjust.Key(in.Template))
	if err != nil {
		return out, err
	}
	if slices.Contains(keys, adjust.Key(in.Template)) {
		data, err := a.Store.Get(ctx, adjust.Key(in.Template))
		if err != nil {
			return out, err
		}
		st, err := adjust.Parse(data)
		if err != nil {
			return out, &corruptError{key: adjust.Key(in.Template), err: err}
		}
		out.StateKey = layout.Run(in.RunID) + "decide/state.json"
		if err := a.Store.Put(ctx, out.StateKey, data); err != nil {
			return out, err
		}
		out.State = &strategy.StateRef{Key: adjust.Key(in.Template), Version: st.Version, Campaign: st.Campaign}
		out.Retired, out.Explore = st.Retired, st.Explore
	}
	if in.SuppressDays > 0 {
		if out.ContactKeys, err = a.recentContacts(ctx, in.Campaign, in.Start, in.SuppressDays); err != nil {
			return out, err
		}
	}
	return out, nil
}

// eachTableRow calls fn with every row of every piece of a canonical table
// partition (dir), in key order.
func (a *Activities) eachTableRow(ctx context.Context, dir string, t *canon.Table, fn func([]canon.Value)) error {
	keys, err := a.Store.List(ctx, dir)
	if err != nil {
		return err
	}
	slices.Sort(keys)
	row := make([]canon.Value, len(t.Columns))
	for _, k := range keys {
		err := a.readArrow(ctx, k, t.Schema, func(rec arrow.Record) error {
			cols := rec.Columns()
			for r := range int(rec.NumRows()) {
				for c, col := range t.Columns {
					row[c] = canon.ValueAt(cols[c], col.Kind, r)
				}
				fn(row)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// DecideScoreInput is everything one block of shards needs to score its
// users.
type DecideScoreInput struct {
	RunID         string
	Shard, Shards int
	// Block is the shards to score; workflows before blocks leave it zero
	// and score Shard alone.
	Block        shard.Block
	Scaler       features.Scaler
	Centroids    [][]float64
	SegmentNames []string
	ForestKey    string
	UpliftKey    string // "" without uplift models
	StateKey     string // "" without an adjustment state
	Params       strategy.Params
	OptOut       []string // objects listing opted-out user ids
	ContactKeys  []string // recent campaigns' contact lists
	Profiles     bool     // the run has a profiles table
	Sensitive    string   // the fairness attribute, "" for none
	// ExcludeOutliers suppresses the users the run's density clusters
	// left as outliers (layout.DenseClusters), with the reason
	// strategy.Outlier.
	ExcludeOutliers bool `json:",omitempty"`
}

// blockOf is the shards an activity of a decide fan-out handles: b, or
// shard i alone when b is zero (inputs from before blocks).
func blockOf(b shard.Block, i int) shard.Block {
	if b.Len() == 0 {
		return shard.Block{From: i, To: i + 1}
	}
	return b
}

// DecideScoreOutput is the block's scoring in aggregates: where its
// scored users are, and their stats (merged over the block's shards).
type DecideScoreOutput struct {
	Key    string // the scored users (strategy.EncodeScored): the block's shards' in shard order
	Digest string // SHA-256 of the object, hex: names this version in worker caches
	strategy.ScoreStats
}

// lastDecoded holds the object a worker decoded last for one use and the
// bytes it came from: every shard's activity of a run reads the same
// object, and decoding it was most of the activity's CPU (for the uplift
// models' forests: docs/PERFORMANCE.md, "Forest prediction"). What it
// holds is only read after decoding, so shards share it.
type lastDecoded[T any] struct {
	mu   sync.Mutex // held while decoding, so shards starting together decode once
	data []byte
	v    T
	ok   bool
}

// get reads the object at key, decoding it (decode) unless it is the one
// decoded last (same bytes).
func (c *lastDecoded[T]) get(ctx context.Context, store Store, key string, decode func([]byte) (T, error)) (T, error) {
	data, err := store.Get(ctx, key)
	if err != nil {
		var zero T
		return zero, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && bytes.Equal(c.data, data) {
		return c.v, nil
	}
	v, err := decode(data)
	if err != nil {
		return v, err
	}
	c.data, c.v, c.ok = data, v, true
	return v, nil
}

// modelCache is the uplift models DecideScore decoded last.
type modelCache = lastDecoded[*uplift.Model]

// forestCache is the propensity model (forest or boosted) DecideScore
// decoded last. Prediction only reads a forest (its compact layout is
// built once, atomically); CombineForest, which merges into the forests
// it loads, does not use this.
type forestCache = lastDecoded[propensityModel]

// upliftModels reads the uplift models at key (a.uplift).
func (a *Activities) upliftModels(ctx context.Context, key string) (*uplift.Model, error) {
	return a.uplift.get(ctx, a.Store, key, func(data []byte) (*uplift.Model, error) {
		m := &uplift.Model{}
		if err := json.Unmarshal(data, m); err != nil {
			return nil, &corruptError{key: key, err: err}
		}
		return m, nil
	})
}

// propensityForest reads the propensity model at key (a.forest).
func (a *Activities) propensityForest(ctx context.Context, key string) (propensityModel, error) {
	return a.forest.get(ctx, a.Store, key, func(data []byte) (propensityModel, error) { return decodePropensity(key, data) })
}

// DecideScore scores the users of a block of shards: segment, propensity,
// audience and offer eligibility, suppression, control (stratified by
// segment, shard by shard) and exploration, and every eligible offer's
// expected incremental revenue and cost with its source. It stores the
// scored users, the block's shards in shard order, for the budget and
// assignment passes: at layout.Scored for a block of one shard, else at
// layout.ScoredBlock.
func (a *Activities) DecideScore(ctx context.Context, in DecideScoreInput) (_ DecideScoreOutput, err error) {
	defer final(&err)
	b := blockOf(in.Block, in.Shard)
	f, err := a.propensityForest(ctx, in.ForestKey)
	if err != nil {
		return DecideScoreOutput{}, err
	}
	var models *uplift.Model
	if in.UpliftKey != "" {
		if models, err = a.upliftModels(ctx, in.UpliftKey); err != nil {
			return DecideScoreOutput{}, err
		}
	}
	var state *adjust.State
	if in.StateKey != "" {
		data, err := a.Store.Get(ctx, in.StateKey)
		if err != nil {
			return DecideScoreOutput{}, err
		}
		if state, err = adjust.Parse(data); err != nil {
			return DecideScoreOutput{}, &corruptError{key: in.StateKey, err: err}
		}
	}
	// The lists are read once for the block, their partitions of its
	// shards only (eachContact).
	suppressed := map[string]string{}
	if in.ExcludeOutliers {
		// First: an opted-out or recently contacted outlier is counted
		// under that reason.
		for i := b.From; i < b.To; i++ {
			if err := a.outliersOf(ctx, in.RunID, i, func(id string) { suppressed[id] = strategy.Outlier }); err != nil {
				return DecideScoreOutput{}, fmt.Errorf("shard %d: %w", i, err)
			}
		}
	}
	for _, k := range in.ContactKeys {
		if err := a.eachContact(ctx, k, b, in.Shards, func(id string) { suppressed[id] = strategy.RecentlyContacted }); err != nil {
			return DecideScoreOutput{}, err
		}
	}
	for _, k := range in.OptOut {
		if err := a.eachIDIn(ctx, k, b, in.Shards, func(id string) { suppressed[id] = strategy.OptedOut }); err != nil {
			return DecideScoreOutput{}, err
		}
	}
	out := DecideScoreOutput{Key: layout.Scored(in.RunID, b.From)}
	if b.Len() > 1 {
		out.Key = layout.ScoredBlock(in.RunID, b)
	}
	p := in.Params
	var all []strategy.Scored
	for i := b.From; i < b.To; i++ {
		scored, err := a.scoreShard(ctx, in, i, f, models, state, suppressed)
		if err != nil {
			return DecideScoreOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		out.Merge(p.Stats(scored))
		if b.Len() == 1 {
			all = scored
		} else {
			all = append(all, scored...)
		}
	}
	data := strategy.EncodeScored(all)
	out.Digest = digest(data)
	if err := a.Store.Put(ctx, out.Key, data); err != nil {
		return DecideScoreOutput{}, err
	}
	// The rounds that follow find the users this worker just scored: they
	// are what decoding the object gives (strategy.EncodeScored).
	a.scored.put(scoredID{out.Key, out.Digest}, all, a.scoredLimit())
	return out, nil
}

// scoreShard scores shard i's users (DecideScore), its control group
// stratified within the shard.
func (a *Activities) scoreShard(ctx context.Context, in DecideScoreInput, i int, f propensityModel, models *uplift.Model,
	state *adjust.State, suppressed map[string]string) ([]strategy.Scored, error) {
	profiles := strategy.NewProfiles(in.Sensitive)
	if in.Profiles {
		if err := a.eachProfile(ctx, in.RunID, i, in.Shards, profiles.Add); err != nil {
			return nil, err
		}
	}
	rows, err := a.readFeatures(ctx, layout.Features(in.RunID, i), features.Schema)
	if err != nil {
		return nil, err
	}
	p := in.Params
	scored := make([]strategy.Scored, len(rows))
	xs := make([][]float64, len(rows))
	for i, r := range rows {
		xs[i] = r.Values
	}
	// Forests score the shard in batches: most of the stage's CPU.
	props := make([]float64, len(rows))
	f.PredictBatch(xs, props)
	var est strategy.Estimator
	var upl *strategy.RowEstimates
	if models != nil {
		pred := models.Predict(xs)
		upl = strategy.NewRowEstimates(pred.Base, pred.Effect)
	}
	for i, r := range rows {
		seg, _ := kmeans.Nearest(in.Scaler.Apply(r.Values), in.Centroids)
		u := p.FeatureUser(r, in.SegmentNames[seg], props[i])
		u.Suppressed = suppressed[r.UserID]
		u.Member = profiles.Member(r.UserID, u.Orders)
		if upl != nil {
			est = upl.Row(i)
		}
		scored[i] = p.Score(u, r.Values, est, state)
		if in.Sensitive != "" {
			scored[i].Group = profiles.Group(r.UserID)
		}
	}
	p.StratifyControl(scored)
	return scored, nil
}

// profileColumns are the profiles table's columns a decision reads, by
// name.
var profileColumns = struct{ user, attribute, value int }{
	canon.ProfilesTable.Index("user_id"), canon.ProfilesTable.Index("attribute"), canon.ProfilesTable.Index("value"),
}

// eachProfile calls fn with the user, attribute and value of every row of
// shard i's profiles.
func (a *Activities) eachProfile(ctx context.Context, runID string, i, shards int, fn func(user, attribute, value string)) error {
	c := profileColumns
	return a.eachTableRow(ctx, layout.TableDir(runID, canon.ProfilesName, i, shards), canon.ProfilesTable, func(v []canon.Value) {
		fn(v[c.user].Str, v[c.attribute].Str, v[c.value].Str)
	})
}

// digest is the hex SHA-256 of data.
func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// loadScored returns the scored users at key: from the worker's cache when
// it holds the version named by digest, else read, decoded and cached
// under the digest of what was read. Objects from runs before the binary
// layout (".json.gz") are decoded as gzip JSON and not cached. An empty
// digest (a workflow from before digests) always reads the object.
func (a *Activities) loadScored(ctx context.Context, key, dig string) ([]strategy.Scored, error) {
	if users, ok := a.scored.get(scoredID{key, dig}); ok && dig != "" {
		return users, nil
	}
	data, err := a.Store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(key, ".json.gz") {
		return loadScoredJSON(key, data)
	}
	users, err := strategy.DecodeScored(data)
	if err != nil {
		return nil, &corruptError{key: key, err: err}
	}
	a.scored.put(scoredID{key, digest(data)}, users, a.scoredLimit())
	return users, nil
}

// loadScoredJSON decodes scored users in the gzip JSON of earlier runs.
func loadScoredJSON(key string, data []byte) ([]strategy.Scored, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, &corruptError{key: key, err: err}
	}
	var out []strategy.Scored
	if err := json.NewDecoder(zr).Decode(&out); err != nil {
		return nil, &corruptError{key: key, err: err}
	}
	return out, nil
}

// DecideCurveInput asks for one shard's budget curve.
type DecideCurveInput struct {
	Key     string // the scored users
	Digest  string // DecideScoreOutput.Digest
	Params  strategy.Params
	Lambdas []float64
	// Quotas are the exploration allowance, and after caps or fairness
	// withheld offers, their quotas too (the budget is solved again).
	Quotas   strategy.Quotas
	Fairness bool // group quotas apply
}

// DecideCurve returns the cost, value and revenue of the shard's choices at
// every multiplier of the grid.
func (a *Activities) DecideCurve(ctx context.Context, in DecideCurveInput) (_ budget.Curve, err error) {
	defer final(&err)
	users, err := a.loadScored(ctx, in.Key, in.Digest)
	if err != nil {
		return budget.Curve{}, err
	}
	return in.Params.Curve(in.Params.TopUpControl(users), in.Lambdas, in.Quotas, in.Fairness), nil
}

// DecideUpgradesInput asks one shard for its proposals in a round of the
// budget repair.
type DecideUpgradesInput struct {
	Key      string // the scored users
	Digest   string // DecideScoreOutput.Digest
	Params   strategy.Params
	Lambda   float64
	Quotas   strategy.Quotas
	Fairness bool
	Repair   []strategy.RepairRound // the shard's earlier rounds
	Limit    float64                // largest extra cost worth proposing
	K        int                    // at most this many proposals
}

// DecideUpgrades returns the shard's best increments from its choices (at
// the multiplier, under the quotas, after its earlier repair rounds), best
// first: gains and costs only, no user ids (strategy.Params.Upgrades).
func (a *Activities) DecideUpgrades(ctx context.Context, in DecideUpgradesInput) (_ []strategy.Upgrade, err error) {
	defer final(&err)
	users, err := a.loadScored(ctx, in.Key, in.Digest)
	if err != nil {
		return nil, err
	}
	// The users as DecideAssign sees them: the control group topped up.
	return in.Params.Upgrades(in.Params.TopUpControl(users), in.Lambda, in.Quotas, in.Fairness, in.Repair, in.Limit, in.K), nil
}

// DecideAssignInput applies the solved multiplier and quotas to a block of
// shards.
type DecideAssignInput struct {
	RunID string
	Shard int
	// Block and Shards are the block's shards among the run's; workflows
	// before blocks leave them zero and assign Shard alone.
	Block    shard.Block
	Shards   int
	Key      string // the scored users
	Digest   string // DecideScoreOutput.Digest
	Params   strategy.Params
	Lambda   float64
	Quotas   strategy.Quotas
	Fairness bool
	// Repair is the shard's rounds of the budget repair (none before it,
	// or when it picked nothing here).
	Repair []strategy.RepairRound `json:",omitempty"`
	// Recommendations is the shard's recommendations
	// (layout.Recommendations), which fill the plan's recommended items;
	// "" leaves them empty. With Featured it is the shard's featured lists
	// (layout.Featured), and a block's shards' are read there.
	Recommendations string `json:",omitempty"`
	Featured        bool   `json:",omitempty"`
	// OfferCategories maps the offers restricted to a category to it.
	OfferCategories map[string]string `json:",omitempty"`
}

// DecideAssignOutput is the block's plan in aggregates.
type DecideAssignOutput struct {
	Key   string // the shard's plan rows (a block of one shard); a block's are layout.Scores of its shards
	Rows  int64
	Tally strategy.Tally
}

// DecideAssign chooses every user's offer at the multiplier, applies the
// quotas (the block's: a block of shards is assigned as one), and writes
// each shard's plan rows (overwriting an earlier pass).
func (a *Activities) DecideAssign(ctx context.Context, in DecideAssignInput) (_ DecideAssignOutput, err error) {
	defer final(&err)
	users, err := a.loadScored(ctx, in.Key, in.Digest)
	if err != nil {
		return DecideAssignOutput{}, err
	}
	b := blockOf(in.Block, in.Shard)
	rows, tally := in.Params.AssignRepaired(in.Params.TopUpControl(users), in.Lambda, in.Quotas, in.Fairness, in.Repair)
	out := DecideAssignOutput{Rows: int64(len(rows)), Tally: tally}
	if b.Len() == 1 {
		out.Key = layout.Scores(in.RunID, b.From)
		if err := a.featureRecommended(ctx, rows, in.Recommendations, in.Featured, in.OfferCategories); err != nil {
			return DecideAssignOutput{}, fmt.Errorf("shard %d: %w", b.From, err)
		}
		return out, a.writePlanRows(ctx, out.Key, rows, b.From)
	}
	// The rows are the block's users in shard order (DecideScore).
	for i := b.From; i < b.To; i++ {
		n := 0
		for n < len(rows) && shard.Of(rows[n].UserID, in.Shards) == i {
			n++
		}
		// A block's shards' lists are where RecommendLists writes them.
		recs := ""
		switch {
		case in.Recommendations != "" && in.Featured:
			recs = layout.Featured(in.RunID, i)
		case in.Recommendations != "":
			recs = layout.Recommendations(in.RunID, i)
		}
		if err := a.featureRecommended(ctx, rows[:n], recs, in.Featured, in.OfferCategories); err != nil {
			return DecideAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		if err := a.writePlanRows(ctx, layout.Scores(in.RunID, i), rows[:n], i); err != nil {
			return DecideAssignOutput{}, err
		}
		rows = rows[n:]
	}
	if len(rows) > 0 {
		return DecideAssignOutput{}, &corruptError{key: in.Key, err: fmt.Errorf("%d users not in shards %d-%d in shard order", len(rows), b.From, b.To-1)}
	}
	return out, nil
}

// featureRecommended fills the rows' recommended items from the lists at
// key (feature); "" leaves them empty.
func (a *Activities) featureRecommended(ctx context.Context, rows []plan.Row, key string, compact bool, offerCategories map[string]string) error {
	if key == "" {
		return nil
	}
	lists, err := a.featuredLists(ctx, key, compact)
	if err != nil {
		return err
	}
	feature(rows, lists, offerCategories)
	return nil
}

// writePlanRows writes shard i's plan rows to key.
func (a *Activities) writePlanRows(ctx context.Context, key string, rows []plan.Row, i int) error {
	rec := plan.Record(rows, a.mem())
	defer rec.Release()
	if err := a.writeArrow(ctx, key, plan.Schema, rec); err != nil {
		return fmt.Errorf("shard %d: %w", i, err)
	}
	return nil
}
