package activities

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"go.temporal.io/sdk/temporal"

	"github.com/promoflow/promoflow/internal/adjust"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/live"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/internal/uplift"
)

// LiveModel is what a live campaign scores with: the newest published run
// of its template (features, segments, propensity forest, uplift models)
// and the adjustment state pinned at its start. Keys and aggregates only.
type LiveModel struct {
	RunID         string
	Campaign      string // the published campaign of RunID
	Shards        int
	Users         int64
	End           time.Time // the run's features are as of End
	ForestKey     string
	UpliftKey     string // "" without uplift models
	StateKey      string // the live campaign's pinned copy; "" without a state
	SegmentNames  []string
	DefaultBasket float64
	Retired       []string
	Explore       map[string]float64
	ContactKeys   []string // contact lists of campaigns started within the template's suppress_days
}

// LiveResolveInput names a live campaign and its template.
type LiveResolveInput struct {
	Campaign     string
	Template     string
	RunID        string // pin a run; "" finds the newest published run of Template
	Start        time.Time
	SuppressDays int
}

// publishedSummary is the part of a published campaign's summary.json a
// live campaign needs.
type publishedSummary struct {
	RunID    string            `json:"run_id"`
	Template string            `json:"template"`
	Campaign string            `json:"campaign"`
	Shards   int               `json:"shards"`
	Users    int64             `json:"users"`
	End      time.Time         `json:"end"`
	Segments []segment.Profile `json:"segments"`
	Uplift   *struct {
		NewBuyerBasket float64 `json:"new_buyer_basket"`
	} `json:"uplift"`
	Live   bool `json:"live"`
	Models struct {
		Propensity struct {
			Key string `json:"forest"` // the propensity model's key, forest or boosted (workflows.TrainOutput)
		} `json:"propensity"`
	} `json:"models"`
}

// LiveResolve finds the newest published run of the template (by the end
// of its data, then run id; live campaigns' own summaries are skipped), pins
// the template's adjustment state into the live campaign, and lists the
// recent contact lists its suppression reads.
func (a *Activities) LiveResolve(ctx context.Context, in LiveResolveInput) (_ LiveModel, err error) {
	defer final(&err)
	keys, err := a.Store.List(ctx, layout.CampaignsRoot)
	if err != nil {
		return LiveModel{}, err
	}
	var best *publishedSummary
	for _, k := range keys {
		parts := strings.Split(k, "/")
		if len(parts) != 3 || parts[2] != "summary.json" {
			continue
		}
		data, err := a.Store.Get(ctx, k)
		if err != nil {
			return LiveModel{}, err
		}
		var s publishedSummary
		if err := json.Unmarshal(data, &s); err != nil {
			return LiveModel{}, &corruptError{key: k, err: err}
		}
		if s.Live || s.RunID == "" || s.Template != in.Template || (in.RunID != "" && s.RunID != in.RunID) {
			continue
		}
		if best == nil || cmp.Or(s.End.Compare(best.End), strings.Compare(s.RunID, best.RunID)) > 0 {
			best = &s
		}
	}
	if best == nil {
		return LiveModel{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("live: no published run of template %q (run one first: starter run --template %s)", in.Template, in.Template), BadInputType, nil)
	}
	m := LiveModel{
		RunID: best.RunID, Campaign: best.Campaign, Shards: best.Shards, Users: best.Users, End: best.End,
		ForestKey: cmp.Or(best.Models.Propensity.Key, layout.Forest(best.RunID)),
	}
	if _, err := a.Store.Get(ctx, layout.UpliftModel(best.RunID)); err == nil {
		m.UpliftKey = layout.UpliftModel(best.RunID)
	} else if !errors.Is(err, blob.ErrNotFound) {
		return LiveModel{}, err
	}
	m.SegmentNames = make([]string, len(best.Segments))
	var spent, orders float64
	for _, p := range best.Segments {
		if p.ID >= 0 && p.ID < len(m.SegmentNames) {
			m.SegmentNames[p.ID] = p.Name
		}
		spent += float64(p.Size) * p.Mean["monetary"]
		orders += float64(p.Size) * p.Mean["frequency"]
	}
	// Users who never ordered are valued at the first orders the history
	// measured, else at the mean order value (as the batch decision).
	if best.Uplift != nil && best.Uplift.NewBuyerBasket > 0 {
		m.DefaultBasket = best.Uplift.NewBuyerBasket
	} else if orders > 0 {
		m.DefaultBasket = spent / orders
	}
	data, err := a.Store.Get(ctx, adjust.Key(in.Template))
	switch {
	case err == nil:
		st, err := adjust.Parse(data)
		if err != nil {
			return LiveModel{}, &corruptError{key: adjust.Key(in.Template), err: err}
		}
		m.StateKey = layout.LiveState(in.Campaign)
		if err := a.Store.Put(ctx, m.StateKey, data); err != nil {
			return LiveModel{}, err
		}
		m.Retired, m.Explore = st.Retired, st.Explore
	case !errors.Is(err, blob.ErrNotFound):
		return LiveModel{}, err
	}
	if in.SuppressDays > 0 {
		if m.ContactKeys, err = a.recentContacts(ctx, in.Campaign, in.Start, in.SuppressDays); err != nil {
			return LiveModel{}, err
		}
	}
	return m, nil
}

// LiveScoreInput asks for the scoring of a batch of requests.
type LiveScoreInput struct {
	Model    LiveModel
	Params   strategy.Params
	Requests []live.Request
	At       time.Time // the decisions' time (workflow time)
}

// LiveScore scores the users of a batch of live requests, in order: each
// user's features from the model's run moved to now and by the event
// (live.ApplyEvent), the segment the run assigned, the propensity forest and
// uplift models (one batch prediction), the template's audience,
// suppression and offers (strategy.Params.Score). A user the run does not
// know is scored ineligible ("no features"). The worker keeps decoded
// models and each shard's users (liveCache), so a batch on shards this
// worker has seen reads nothing from the bucket.
func (a *Activities) LiveScore(ctx context.Context, in LiveScoreInput) (_ []strategy.Scored, err error) {
	defer final(&err)
	m, p := in.Model, in.Params
	mod, err := a.live.models(ctx, a, m)
	if err != nil {
		return nil, err
	}
	out := make([]strategy.Scored, len(in.Requests))
	type known struct {
		i     int
		u     liveUser
		sh    *liveShard
		event string
	}
	var ks []known
	var xs [][]float64
	for i, req := range in.Requests {
		sh, err := a.live.shard(ctx, a, m, shard.Of(req.UserID, m.Shards))
		if err != nil {
			return nil, err
		}
		u, ok := sh.users[req.UserID]
		if !ok {
			out[i] = strategy.Scored{UserID: req.UserID, Status: strategy.Ineligible, Why: "no features: unknown user", Pick: -1}
			continue
		}
		ks = append(ks, known{i, u, sh, req.Event})
		xs = append(xs, live.ApplyEvent(features.Names, u.values, req.Event, m.End, in.At))
	}
	if len(ks) == 0 {
		return out, nil
	}
	props := make([]float64, len(xs))
	mod.forest.PredictBatch(xs, props)
	var upl *strategy.RowEstimates
	if mod.uplift != nil {
		pred := mod.uplift.Predict(xs)
		upl = strategy.NewRowEstimates(pred.Base, pred.Effect)
	}
	for j, k := range ks {
		x := xs[j]
		id := in.Requests[k.i].UserID
		// The user as the decide stage builds it from a feature row (the
		// row's values after the event), with the run's categories.
		user := p.FeatureUser(features.Row{UserID: id, Values: x}, k.u.segment, props[j])
		user.Categories, user.Suppressed = k.u.categories, k.sh.suppressed[id]
		user.Member = strategy.ProxyMember(user.Orders) // live scoring reads no profiles
		var est strategy.Estimator
		if upl != nil {
			est = upl.Row(j)
		}
		out[k.i] = p.Score(user, x, est, mod.state)
	}
	return out, nil
}

// liveUser is what live scoring keeps of one user of a run.
type liveUser struct {
	values     []float64
	segment    string
	categories []string
}

// liveShard is one shard of a run, decoded for live scoring.
type liveShard struct {
	users      map[string]liveUser
	suppressed map[string]string
}

// liveModels are a run's decoded models for live scoring.
type liveModels struct {
	forest propensityModel // a forest or a boosted model, as the run trained
	uplift *uplift.Model
	state  *adjust.State
}

// liveCache keeps, per worker, the decoded models and shards live
// campaigns score with, keyed by run (and pinned state) and shard. A run's
// objects never change once published, so entries are never stale; a
// worker holds the runs of its live campaigns (about 500 bytes a user).
type liveCache struct {
	shards loadedOnce[*liveShard]
	mods   loadedOnce[*liveModels]
}

func (c *liveCache) shard(ctx context.Context, a *Activities, m LiveModel, i int) (*liveShard, error) {
	id := fmt.Sprintf("%s|%s|%d", m.RunID, strings.Join(m.ContactKeys, ","), i)
	return c.shards.get(id, func() (*liveShard, error) {
		s := &liveShard{}
		return s, s.load(ctx, a, m, i)
	})
}

// loadedOnce keeps values loaded once per key: concurrent callers of a
// key wait for its one load, and a failed load is dropped so that the
// next call tries again.
type loadedOnce[T any] struct {
	mu sync.Mutex
	m  map[string]*onceEntry[T]
}

type onceEntry[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (l *loadedOnce[T]) get(key string, load func() (T, error)) (T, error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*onceEntry[T]{}
	}
	e, ok := l.m[key]
	if !ok {
		e = &onceEntry[T]{}
		l.m[key] = e
	}
	l.mu.Unlock()
	e.once.Do(func() { e.v, e.err = load() })
	if e.err != nil {
		l.mu.Lock()
		if l.m[key] == e {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	return e.v, e.err
}

func (s *liveShard) load(ctx context.Context, a *Activities, m LiveModel, i int) error {
	rows, err := a.readFeatures(ctx, layout.Features(m.RunID, i), features.Schema)
	if err != nil {
		return fmt.Errorf("shard %d: %w", i, err)
	}
	segs := map[string]int32{}
	err = a.readArrow(ctx, layout.Segments(m.RunID, i), features.SegmentSchema, func(rec arrow.Record) error {
		ids, seg := rec.Column(0).(*array.String), rec.Column(1).(*array.Int32)
		for r := range ids.Len() {
			segs[ids.Value(r)] = seg.Value(r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("shard %d segments: %w", i, err)
	}
	s.users = make(map[string]liveUser, len(rows))
	for _, r := range rows {
		u := liveUser{values: r.Values}
		if j, ok := segs[r.UserID]; ok && int(j) < len(m.SegmentNames) && j >= 0 {
			u.segment = m.SegmentNames[j]
		}
		for _, c := range r.Categories {
			u.categories = append(u.categories, c.Term)
		}
		s.users[r.UserID] = u
	}
	s.suppressed = map[string]string{}
	for _, k := range m.ContactKeys {
		if err := a.eachContact(ctx, k, shard.Block{From: i, To: i + 1}, m.Shards, func(id string) { s.suppressed[id] = strategy.RecentlyContacted }); err != nil {
			return err
		}
	}
	return nil
}

func (c *liveCache) models(ctx context.Context, a *Activities, m LiveModel) (*liveModels, error) {
	return c.mods.get(m.ForestKey+"|"+m.UpliftKey+"|"+m.StateKey, func() (*liveModels, error) {
		e := &liveModels{}
		return e, e.load(ctx, a, m)
	})
}

func (e *liveModels) load(ctx context.Context, a *Activities, m LiveModel) error {
	data, err := a.Store.Get(ctx, m.ForestKey)
	if err != nil {
		return err
	}
	if e.forest, err = decodePropensity(m.ForestKey, data); err != nil {
		return err
	}
	if m.UpliftKey != "" {
		data, err := a.Store.Get(ctx, m.UpliftKey)
		if err != nil {
			return err
		}
		e.uplift = &uplift.Model{}
		if err := json.Unmarshal(data, e.uplift); err != nil {
			return &corruptError{key: m.UpliftKey, err: err}
		}
	}
	if m.StateKey != "" {
		data, err := a.Store.Get(ctx, m.StateKey)
		if err != nil {
			return err
		}
		if e.state, err = adjust.Parse(data); err != nil {
			return &corruptError{key: m.StateKey, err: err}
		}
	}
	return nil
}

// LiveFlushInput is a part of a slice's decision log.
type LiveFlushInput struct {
	Key       string // layout.LiveDecisionPart
	Decisions []live.Decision
}

// LiveFlush writes a part of a slice's decision log (JSON Lines),
// overwriting the same key on a retry; it returns the decisions written.
func (a *Activities) LiveFlush(ctx context.Context, in LiveFlushInput) (_ int, err error) {
	defer final(&err)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, d := range in.Decisions {
		if err := enc.Encode(d); err != nil {
			return 0, err
		}
	}
	return len(in.Decisions), a.Store.Put(ctx, in.Key, buf.Bytes())
}

// ReadLiveDecisions reads a live campaign's whole decision log, in (slice,
// seq) order. A decision logged twice (same slice and seq) is an error: the
// log must count each decision once.
func ReadLiveDecisions(ctx context.Context, store Store, campaign string) ([]live.Decision, error) {
	keys, err := store.List(ctx, layout.LiveDecisions(campaign))
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	var out []live.Decision
	for _, k := range keys {
		data, err := store.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var d live.Decision
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				return nil, &corruptError{key: k, err: err}
			}
			out = append(out, d)
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b live.Decision) int { return cmp.Or(cmp.Compare(a.Slice, b.Slice), cmp.Compare(a.Seq, b.Seq)) })
	for i := 1; i < len(out); i++ {
		if out[i].Slice == out[i-1].Slice && out[i].Seq == out[i-1].Seq {
			return nil, fmt.Errorf("live %s: slice %d decision %d logged twice", campaign, out[i].Slice, out[i].Seq)
		}
	}
	return out, nil
}

// LivePublishInput names a stopped live campaign.
type LivePublishInput struct {
	Campaign, Template string
	RunID              string // the run whose features the decisions used
	Start, End         time.Time
	Budget             float64
	Slices             int
}

// LivePublishOutput is what a live campaign published.
type LivePublishOutput struct {
	Plan      string  `json:"plan"`
	Decisions int     `json:"decisions"`
	Rows      int     `json:"rows"`
	Offers    int     `json:"offers"`
	Control   int     `json:"control"`
	Cost      float64 `json:"cost"` // expected cost of the plan's offers: the budget used
}

// liveSummary is a live campaign's campaigns/<campaign>/summary.json: the
// run whose features its decisions used (the evaluation's history joins on
// it) and the totals.
type liveSummary struct {
	RunID     string    `json:"run_id"`
	Template  string    `json:"template"`
	Campaign  string    `json:"campaign"`
	Live      bool      `json:"live"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Budget    float64   `json:"budget"`
	Slices    int       `json:"slices"`
	Decisions int       `json:"decisions"`
	LivePublishOutput
}

// LivePublish turns a live campaign's decision log into its plan
// (campaigns/<campaign>/plan.parquet, plan.csv: one row per user,
// live.PlanRows) and summary.json, so the evaluation and the closed loop
// read it as a batch campaign.
func (a *Activities) LivePublish(ctx context.Context, in LivePublishInput) (_ LivePublishOutput, err error) {
	defer final(&err)
	ds, err := ReadLiveDecisions(ctx, a.Store, in.Campaign)
	if err != nil {
		return LivePublishOutput{}, err
	}
	rows := live.PlanRows(ds, in.Campaign, in.Start, in.End)
	out := LivePublishOutput{Plan: a.Store.URL(layout.Campaign(in.Campaign) + "plan.csv"), Decisions: len(ds), Rows: len(rows)}
	for _, r := range rows {
		switch {
		case r.Control:
			out.Control++
		case r.Offer != campaign.None:
			out.Offers++
			out.Cost += r.ExpectedCost
		}
	}
	var pq, cs bytes.Buffer
	pw, err := plan.NewParquetWriter(&pq, a.mem())
	if err != nil {
		return LivePublishOutput{}, err
	}
	rec := plan.Record(rows, a.mem())
	err = pw.Write(rec)
	rec.Release()
	if err != nil {
		return LivePublishOutput{}, err
	}
	if err := pw.Close(); err != nil {
		return LivePublishOutput{}, err
	}
	cw := plan.NewCSVWriter(&cs)
	if err := cw.Write(rows); err != nil {
		return LivePublishOutput{}, err
	}
	if err := cw.Close(); err != nil {
		return LivePublishOutput{}, err
	}
	prefix := layout.Campaign(in.Campaign)
	if err := a.Store.Put(ctx, prefix+"plan.parquet", pq.Bytes()); err != nil {
		return LivePublishOutput{}, err
	}
	if err := a.Store.Put(ctx, prefix+"plan.csv", cs.Bytes()); err != nil {
		return LivePublishOutput{}, err
	}
	sum, err := json.MarshalIndent(liveSummary{
		RunID: in.RunID, Template: in.Template, Campaign: in.Campaign, Live: true, Start: in.Start, End: in.End,
		Budget: in.Budget, Slices: in.Slices, Decisions: len(ds), LivePublishOutput: out,
	}, "", "  ")
	if err != nil {
		return LivePublishOutput{}, err
	}
	return out, a.Store.Put(ctx, prefix+"summary.json", sum)
}
