package activities

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"golang.org/x/sync/errgroup"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/recommend"
	"github.com/promoflow/promoflow/internal/shard"
)

// recommendKinds maps event types to what the recommender makes of them:
// purchases bought, views and carts viewed, searches naming an item
// searched; returns are left out.
var recommendKinds = map[string]recommend.Kind{canon.Purchase: recommend.Bought, canon.View: recommend.Viewed,
	canon.Cart: recommend.Viewed, canon.Search: recommend.Searched}

// eventRow is an event the recommender reads, its strings pointing into
// the record (valid during the callback only).
type eventRow struct {
	user, item, category, text, order string
	kind                              recommend.Kind
	time                              int64 // Unix ms
}

// eachRecommendEvent calls fn with shard i's events up to end (Unix ms;
// 0: all) that name a user and an item and have a kind.
func (a *Activities) eachRecommendEvent(ctx context.Context, run string, i int, end int64, fn func(e *eventRow)) error {
	keys, err := a.Store.List(ctx, layout.EventsDir(run, i))
	if err != nil {
		return err
	}
	idx := func(name string) int { return canon.EventSchema.FieldIndices(name)[0] }
	cUser, cTS, cType, cItem, cCat, cText, cOrder := idx("user_id"), idx("ts"), idx("type"), idx("item_id"), idx("category"), idx("text"), idx("order_id")
	var e eventRow
	for _, key := range keys {
		err := a.readArrowStream(ctx, key, canon.EventSchema, func(rec arrow.Record) error {
			user := rec.Column(cUser).(*array.String)
			ts := rec.Column(cTS).(*array.Timestamp)
			typ := rec.Column(cType).(*array.String)
			item := rec.Column(cItem).(*array.String)
			cat := rec.Column(cCat).(*array.String)
			text := rec.Column(cText).(*array.String)
			order := rec.Column(cOrder).(*array.String)
			for r := 0; r < int(rec.NumRows()); r++ {
				k, ok := recommendKinds[typ.Value(r)]
				t := int64(ts.Value(r)) // canon timestamps are milliseconds
				if !ok || item.Value(r) == "" || user.Value(r) == "" || (end != 0 && t > end) {
					continue
				}
				e = eventRow{user: user.Value(r), item: item.Value(r), category: cat.Value(r), text: text.Value(r),
					order: order.Value(r), kind: k, time: t}
				fn(&e)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return nil
}

// RecommendModelInput asks for the run's recommendation model.
type RecommendModelInput struct {
	RunID  string
	Shards int
	End    time.Time // events after it are not read; also the model's "now"
	// SampleShards, when set, is how many shards (the first ones) the
	// model trains on, every user of them: users are spread over shards by
	// a hash of their id, so whole shards are a random sample, and reading
	// only them bounds the reading as well as the training.
	SampleShards int `json:",omitempty"`
	// Rate is the share of users trained on when SampleShards is 0 (a
	// seeded hash of the user id, read from every shard); 1: all.
	Rate   float64
	Seed   int64
	Config recommend.Config
}

// RecommendModelOutput says where the model is and what it holds.
type RecommendModelOutput struct {
	Key   string
	Users int // users trained on
	Items int
}

// trainShard is what the model needs of one shard: its catalogue (every
// item seen, with its category and description) and its sampled users'
// events the trainer keeps (Trainer.Keeps), their strings copied.
type trainShard struct {
	catalogue map[string][2]string // item -> category, description
	users     map[string]int       // user -> index in events
	events    [][]recommend.Event
}

// trainShard reads shard i's sampled users into p.
func (a *Activities) trainShard(ctx context.Context, run string, i int, end int64, salt string, rate float64, t *recommend.Trainer, p *trainShard) error {
	*p = newTrainShard()
	lastUser, lastKeep := "", false
	return a.eachRecommendEvent(ctx, run, i, end, func(e *eventRow) {
		if e.user != lastUser { // a shard's events come grouped by user: hash each once
			lastUser, lastKeep = strings.Clone(e.user), rate >= 1 || shard.Unit(salt, e.user) < rate
		}
		if lastKeep {
			p.add(t, e, strings.Clone) // e's strings point into the record
		}
	})
}

// trainShardFrom is trainShard from a shard's events as the features
// passes hold them: the same users, catalogue and kept events.
func trainShardFrom(evs *features.Events, end int64, salt string, rate float64, t *recommend.Trainer, p *trainShard) {
	*p = newTrainShard()
	items, cats, texts, orders := evs.Items(), evs.Categories(), evs.Texts(), evs.Orders()
	name := func(names []string, i int32) string {
		if i < 0 {
			return ""
		}
		return names[i]
	}
	own := func(s string) string { return s } // the events' dictionaries own their strings
	evs.EachItemHistory(end, func(user string, es []features.ItemEvent) error {
		if rate < 1 && shard.Unit(salt, user) >= rate {
			return nil
		}
		for _, e := range es {
			kind, ok := recommendKinds[e.Type]
			if !ok {
				continue
			}
			p.add(t, &eventRow{user: user, item: items[e.Item], category: name(cats, e.Category), text: name(texts, e.Text),
				order: name(orders, e.Order), kind: kind, time: e.Time}, own)
		}
		return nil
	})
}

func newTrainShard() trainShard {
	return trainShard{catalogue: map[string][2]string{}, users: map[string]int{}}
}

// add takes one event of a sampled user: the item's category and
// description into the catalogue (recommend.Describes), the user, and the
// event when the trainer keeps its kind. keep makes the strings p holds
// (a copy of strings that point into a record).
func (p *trainShard) add(t *recommend.Trainer, e *eventRow, keep func(string) string) {
	if m, ok := p.catalogue[e.item]; !ok || recommend.Describes(e.category, e.text, m[0], m[1]) {
		p.catalogue[keep(e.item)] = [2]string{keep(e.category), keep(e.text)}
	}
	u, ok := p.users[e.user]
	if !ok {
		u = len(p.events)
		p.users[keep(e.user)] = u
		p.events = append(p.events, nil)
	}
	if t.Keeps(e.kind) {
		p.events[u] = append(p.events[u], recommend.Event{Item: keep(e.item), Kind: e.kind, Time: e.time, Basket: keep(e.order)})
	}
}

// RecommendModel trains the recommendation model (internal/recommend) on a
// bounded sample of users and stores it. One activity on a sample rather
// than per-shard passes: the model is a few item-by-item tables, the
// co-purchase cosine needs every pair's count over all users (no
// per-epoch averaging to distribute), and the sample bounds the work
// (docs/FEATURES.md measures the sample's cost in recall). The shards are
// read on all cores and given to the trainer in shard order, users in id
// order, so the model does not depend on the timing.
func (a *Activities) RecommendModel(ctx context.Context, in RecommendModelInput) (_ RecommendModelOutput, err error) {
	defer final(&err)
	shards, rate := in.Shards, in.Rate
	if in.SampleShards > 0 {
		shards, rate = min(in.SampleShards, in.Shards), 1
	}
	salt := fmt.Sprintf("recommend-sample/%d", in.Seed)
	t := recommend.NewTrainer(in.End.UnixMilli(), in.Config)
	parts := make([]trainShard, shards)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i := range shards {
		g.Go(func() error {
			// The profile pass leaves a shard's events in this worker's
			// cache (or spilled): reading them there is a copy at most.
			if evs := a.events.peek(eventsKey(gctx, in.RunID, i)); evs != nil {
				trainShardFrom(evs, in.End.UnixMilli(), salt, rate, t, &parts[i])
				return nil
			}
			return a.trainShard(gctx, in.RunID, i, in.End.UnixMilli(), salt, rate, t, &parts[i])
		})
	}
	if err := g.Wait(); err != nil {
		return RecommendModelOutput{}, err
	}
	var h []recommend.Interaction
	for i := range parts {
		for item, m := range parts[i].catalogue {
			t.Item(item, m[0], m[1])
		}
		ids := make([]string, 0, len(parts[i].users))
		for u := range parts[i].users {
			ids = append(ids, u)
		}
		slices.Sort(ids) // a deterministic order for the embeddings' SGD and the sums
		for _, u := range ids {
			h = h[:0]
			for _, e := range parts[i].events[parts[i].users[u]] {
				m := parts[i].catalogue[e.Item]
				h = append(h, recommend.Interaction{Item: t.Item(e.Item, m[0], m[1]), Kind: e.Kind, Time: e.Time, Basket: t.Basket(e.Basket)})
			}
			t.Add(h)
		}
		parts[i] = trainShard{} // free the shard's events
	}
	users := t.Users()
	m, err := t.Model()
	if err != nil {
		return RecommendModelOutput{}, err
	}
	data, err := m.Encode()
	if err != nil {
		return RecommendModelOutput{}, err
	}
	out := RecommendModelOutput{Key: layout.RecommendModel(in.RunID), Users: users, Items: len(m.Items)}
	if err := a.Store.Put(ctx, out.Key, data); err != nil {
		return RecommendModelOutput{}, err
	}
	return out, nil
}

// Lists says how users' lists are scored.
type Lists struct {
	ModelKey string
	K        int
	// AllowRepeats lets bought items be featured (the template's
	// repeat_items: consumables).
	AllowRepeats bool
	// Categories are the categories the template's offers are restricted
	// to: each user also gets a list of each.
	Categories []string `json:",omitempty"`
}

// options are the lists' options, the general list first.
func (l Lists) options() []recommend.Options {
	opts := []recommend.Options{{K: l.K, AllowRepeats: l.AllowRepeats}}
	for _, c := range l.Categories {
		opts = append(opts, recommend.Options{K: l.K, AllowRepeats: l.AllowRepeats, Category: c})
	}
	return opts
}

// RecommendInput asks for the recommendations of a block of shards.
type RecommendInput struct {
	RunID string
	Block shard.Block
	Lists
	End time.Time
}

// RecommendOutput counts the block's lists.
type RecommendOutput struct {
	Keys  []string // per shard of the block, in order
	Users int64
	// Sources counts the general lists' picks by source.
	Sources map[string]int64
}

// Recommend writes the users' ranked lists of every shard of the block
// (layout.Recommendations): a general list of K items per user, and one
// per offer category. The features pass writes them itself (FeaturesInput
// .Lists) from the events it holds; this activity reads the events again,
// for runs recorded before that.
func (a *Activities) Recommend(ctx context.Context, in RecommendInput) (_ RecommendOutput, err error) {
	defer final(&err)
	m, err := a.recommendModel(ctx, in.ModelKey)
	if err != nil {
		return RecommendOutput{}, err
	}
	out := RecommendOutput{Sources: map[string]int64{}}
	s := recommend.NewScorer(m)
	for i := in.Block.From; i < in.Block.To; i++ {
		key, users, err := a.recommendShard(ctx, in, s, m, i, out.Sources)
		if err != nil {
			return RecommendOutput{}, err
		}
		out.Keys, out.Users = append(out.Keys, key), out.Users+users
	}
	return out, nil
}

// recommendShard writes shard i's lists, adding the general lists' picks
// to sources; it returns the key and the users. Users' histories are held
// as item numbers of the model (items it does not know say nothing), so a
// shard costs its users' interactions, not its events' strings.
func (a *Activities) recommendShard(ctx context.Context, in RecommendInput, s *recommend.Scorer, m *recommend.Model, i int, sources map[string]int64) (string, int64, error) {
	users := map[string]int{}
	var hist [][]recommend.Interaction
	lastUser, u := "", 0
	err := a.eachRecommendEvent(ctx, in.RunID, i, in.End.UnixMilli(), func(e *eventRow) {
		if e.user != lastUser || len(hist) == 0 { // events come mostly grouped by user: look each up once
			var ok bool
			if u, ok = users[e.user]; !ok {
				u = len(hist)
				users[strings.Clone(e.user)] = u
				hist = append(hist, nil)
			}
			lastUser = strings.Clone(e.user)
		}
		if item := m.Index(e.item); item >= 0 {
			hist[u] = append(hist[u], recommend.Interaction{Item: item, Kind: e.kind, Time: e.time})
		}
	})
	if err != nil {
		return "", 0, err
	}
	ids := make([]string, 0, len(users))
	for u := range users {
		ids = append(ids, u)
	}
	slices.Sort(ids)
	l := newShardLists(s, in.Lists, in.End.UnixMilli(), len(ids), sources)
	for _, u := range ids {
		l.add(u, hist[users[u]])
	}
	key, err := a.writeLists(ctx, in.RunID, i, l)
	return key, int64(len(ids)), err
}

// shardLists are a shard's users' lists, added in user id order.
type shardLists struct {
	s       *recommend.Scorer
	opts    []recommend.Options
	asOf    int64
	lists   []recommend.List
	sources map[string]int64 // the general lists' picks by source
}

func newShardLists(s *recommend.Scorer, spec Lists, asOf int64, users int, sources map[string]int64) *shardLists {
	opts := spec.options()
	return &shardLists{s: s, opts: opts, asOf: asOf, lists: make([]recommend.List, 0, users*len(opts)), sources: sources}
}

// add scores one user's lists from their history h.
func (l *shardLists) add(user string, h []recommend.Interaction) {
	for k, picks := range l.s.Lists(h, l.asOf, l.opts) {
		if k == 0 {
			for _, p := range picks {
				l.sources[p.Source]++
			}
		}
		l.lists = append(l.lists, recommend.List{User: user, List: l.opts[k].Category, Picks: picks})
	}
}

// writeLists writes shard i's lists where Recommend and the features pass
// write them (layout.Recommendations), and what plan rows take of them
// (layout.Featured: DecideAssign reads that, a tenth of the rows, at every
// quota and repair round); it returns the lists' key.
func (a *Activities) writeLists(ctx context.Context, run string, i int, l *shardLists) (string, error) {
	for _, o := range []struct {
		key    string
		schema *arrow.Schema
		encode func([]recommend.List, memory.Allocator) arrow.Record
	}{
		{layout.Recommendations(run, i), recommend.Schema, recommend.Record},
		{layout.Featured(run, i), recommend.FeaturedSchema, recommend.FeaturedRecord},
	} {
		rec := o.encode(l.lists, a.mem())
		err := a.writeArrow(ctx, o.key, o.schema, rec)
		rec.Release()
		if err != nil {
			return "", fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return layout.Recommendations(run, i), nil
}

// listsFromEvents writes shard i's lists from the events the features
// pass holds (features.Events: items interned per shard, users in id
// order, events in time order), adding the general lists' picks to
// sources; it returns the users listed. The users and kinds are those
// eachRecommendEvent reads: events up to end naming an item, of a kind
// the recommender knows.
func (a *Activities) listsFromEvents(ctx context.Context, run string, i int, spec Lists, end time.Time, evs *features.Events, sources map[string]int64) (int64, error) {
	m, err := a.recommendModel(ctx, spec.ModelKey)
	if err != nil {
		return 0, err
	}
	items := evs.Items()
	index := make([]int32, len(items)) // the shard's item ids -> the model's
	for k, name := range items {
		index[k] = m.Index(name)
	}
	l := newShardLists(recommend.NewScorer(m), spec, end.UnixMilli(), evs.Users(), sources)
	var h []recommend.Interaction
	lastType, kind, known := "", recommend.Kind(0), false
	var users int64
	err = evs.EachItemHistory(end.UnixMilli(), func(user string, es []features.ItemEvent) error {
		h = h[:0]
		listed := false
		for _, e := range es {
			if e.Type != lastType {
				lastType = e.Type
				kind, known = recommendKinds[e.Type]
			}
			if !known {
				continue
			}
			listed = true
			if item := index[e.Item]; item >= 0 {
				h = append(h, recommend.Interaction{Item: item, Kind: kind, Time: e.Time})
			}
		}
		if listed {
			l.add(user, h)
			users++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("shard %d: %w", i, err)
	}
	_, err = a.writeLists(ctx, run, i, l)
	return users, err
}

// recModelCache is the recommendation model a worker decoded last: every
// shard's Recommend reads the same model, and decoding it was most of a
// shard's time. Scoring only reads a model, so shards share it.
type recModelCache = lastDecoded[*recommend.Model]

// recommendModel reads the model at key, decoding it unless it is the one
// decoded last (same bytes).
func (a *Activities) recommendModel(ctx context.Context, key string) (*recommend.Model, error) {
	return a.recModel.get(ctx, a.Store, key, func(data []byte) (*recommend.Model, error) {
		m, err := recommend.Decode(data)
		if err != nil {
			return nil, &corruptError{key: key, err: err}
		}
		return m, nil
	})
}

// RecommendationsTableInput names the shards' recommendations.
type RecommendationsTableInput struct {
	RunID string
	Keys  []string // in shard order
}

// RecommendationsTableOutput says where the table is.
type RecommendationsTableOutput struct {
	URL  string
	Rows int64
}

// RecommendationsTable writes runs/<run>/recommendations.parquet: the
// shards' lists in shard order, a row group per shard.
func (a *Activities) RecommendationsTable(ctx context.Context, in RecommendationsTableInput) (_ RecommendationsTableOutput, err error) {
	defer final(&err)
	f, err := os.CreateTemp(a.TempDir, "recommendations-*.parquet")
	if err != nil {
		return RecommendationsTableOutput{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	mem := a.mem()
	props := parquet.NewWriterProperties(parquet.WithAllocator(mem), parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithCreatedBy("promoflow"))
	// The Parquet writer closes what it writes to; f is closed here.
	w, err := pqarrow.NewFileWriter(recommend.Schema, struct{ io.Writer }{f}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return RecommendationsTableOutput{}, fmt.Errorf("recommendations parquet: %w", err)
	}
	var out RecommendationsTableOutput
	for i, key := range in.Keys {
		err := a.readArrow(ctx, key, recommend.Schema, func(rec arrow.Record) error {
			out.Rows += rec.NumRows()
			return w.Write(rec)
		})
		if err != nil {
			return RecommendationsTableOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	if err := w.Close(); err != nil {
		return RecommendationsTableOutput{}, err
	}
	if err := f.Close(); err != nil {
		return RecommendationsTableOutput{}, err
	}
	key := layout.RecommendationsTable(in.RunID)
	if err := a.Store.PutFile(ctx, key, f.Name()); err != nil {
		return RecommendationsTableOutput{}, err
	}
	out.URL = a.Store.URL(key)
	return out, nil
}

// featuredLists reads what plan rows take of a shard's recommendations:
// each user's lists (the general one, "", and one per offer category),
// as joined items and a category, from the object at key: the shard's
// featured lists (layout.Featured) when compact, else its lists
// (layout.Recommendations, runs from before the featured lists).
func (a *Activities) featuredLists(ctx context.Context, key string, compact bool) (map[string][]recommend.Featured, error) {
	out := map[string][]recommend.Featured{}
	schema := recommend.Schema
	if compact {
		schema = recommend.FeaturedSchema
	}
	err := a.readArrow(ctx, key, schema, func(rec arrow.Record) error {
		return recommend.EachFeatured(rec, func(user string, f recommend.Featured) error {
			out[user] = append(out[user], f)
			return nil
		})
	})
	return out, err
}

// feature fills the plan rows' recommended items from a shard's lists: the
// list of the category the row's offer is restricted to (offerCategory),
// else the general list; the recommended category is the most frequent
// category among the items featured.
func feature(rows []plan.Row, lists map[string][]recommend.Featured, offerCategory map[string]string) {
	for i := range rows {
		l := lists[rows[i].UserID]
		if l == nil {
			continue
		}
		want := offerCategory[rows[i].Offer]
		pick := -1
		for k, f := range l {
			if f.List == "" && pick < 0 || want != "" && f.List == want {
				pick = k
			}
		}
		if pick < 0 {
			continue
		}
		rows[i].RecommendedItems, rows[i].RecommendedCategory = l[pick].Items, l[pick].Category
	}
}
