// Package features turns a shard's events into one row of features per
// user as of a time: purchase behaviour (RFM and more), activity, and
// interests (TF-IDF top terms, category affinities, a dense interest
// vector). docs/FEATURES.md defines every feature.
//
// A shard is read into Events, profiled (Events.Profile: document
// frequencies and item prices, merged over shards into global statistics),
// and then turned into rows (Events.Rows) with those global statistics.
// Moments, Quantiles and Scaler hold the transformation statistics that
// are reduced over shards and applied identically in every shard.
package features

import (
	"fmt"
	"math"
	"time"

	"github.com/promoflow/promoflow/internal/interest"
)

// Behaviour are the purchase-behaviour and activity features, in column
// order; docs/FEATURES.md defines each.
var Behaviour = []string{
	"recency_days",        // days since the last order; MaxRecency without one
	"frequency",           // distinct orders
	"monetary",            // order value net of returns
	"avg_order_value",     // monetary / frequency
	"tenure_days",         // days since the first event
	"interpurchase_days",  // mean days between orders (censored, see docs)
	"interpurchase_trend", // ln((last interval + 1) / (mean earlier interval + 1)); 0 under 3 orders
	"return_rate",         // returned units / bought units
	"discount_share",      // share of orders made at a discount
	"categories",          // distinct categories touched
	"sessions_per_week",   // sessions (30-minute gaps) per week of tenure
	"views_per_week",      // view events per week of tenure
	"searches_per_week",   // search events per week of tenure
	"carts_per_week",      // cart events per week of tenure
	"cart_abandonment",    // share of sessions with a cart that end without an order
	"view_price",          // mean unit price of viewed items; 0 without views
	"deal_searches",       // searches with a deal word (IsDealWord)
	"app_share",           // share of events in the app channel
	"email_share",         // share of events from email
}

// InterestDim is the width of the dense interest vector.
const InterestDim = 16

// Names are all features, in column order: Behaviour, then the dense
// interest vector interest_00 … interest_15. Models use them all.
var Names = names()

func names() []string {
	n := append([]string(nil), Behaviour...)
	for i := range InterestDim {
		n = append(n, fmt.Sprintf("interest_%02d", i))
	}
	return n
}

// SegmentNames are the features segments are found in (k-means): the
// behaviour features except the noisy interpurchase trend. Interests
// describe segments (top terms) rather than define them.
var SegmentNames = []string{
	"recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "interpurchase_days",
	"return_rate", "discount_share", "categories", "sessions_per_week", "views_per_week",
	"searches_per_week", "carts_per_week", "cart_abandonment",
}

// Index returns the column of the feature name in Names, or -1.
func Index(name string) int {
	for i, n := range Names {
		if n == name {
			return i
		}
	}
	return -1
}

// MaxRecency is the recency of users who never bought: far, but finite so
// that distances stay defined.
const MaxRecency = 365.0

// SessionGap is the inactivity that ends a session.
const SessionGap = 30 * time.Minute

// DiscountTolerance is how far below an item's reference price a unit
// price must be to count as discounted: 1%.
const DiscountTolerance = 0.01

// TopCategories is the number of category affinities kept per user.
const TopCategories = 3

// dealWords mark a search for a deal; an order placed in a session with
// such a search counts as made at a discount.
var dealWords = map[string]bool{
	"sale": true, "discount": true, "discounts": true, "cheap": true, "deal": true, "deals": true,
	"offer": true, "offers": true, "clearance": true, "promo": true, "coupon": true, "voucher": true, "bargain": true,
}

// IsDealWord reports whether a search term counts as looking for a deal.
func IsDealWord(term string) bool { return dealWords[term] }

// Row is one user's features.
type Row struct {
	UserID     string
	Values     []float64       // len(Names)
	Label      float64         // training rows only
	Terms      []interest.Term // top TF-IDF terms, heaviest first (scoring rows)
	Categories []interest.Term // category affinities: share of weighted events (scoring rows)
}

// Params are the times and global statistics rows are computed with.
type Params struct {
	Cutoff   time.Time // training rows use events before it
	LabelEnd time.Time // training labels: a purchase in [Cutoff, LabelEnd]
	End      time.Time // scoring rows use events up to it
	Interest interest.Config
	// Vocab and Proj turn terms into TF-IDF vectors and the dense vector;
	// nil leaves interests empty and the dense vector zero.
	Vocab *interest.Vocabulary
	Proj  *interest.Projection
	// Prices are reference unit prices by item id (RefPrices); nil means
	// discounts are known only from deal searches.
	Prices map[string]float64
}

const dayMS = 24 * 60 * 60 * 1000

// Rows computes the scoring rows (events up to End, as of End) and the
// training rows (events before Cutoff, as of Cutoff, labelled by a purchase
// in [Cutoff, LabelEnd]), both sorted by user id. Users first seen after
// the cutoff have no training row.
func (e *Events) Rows(p Params) (score, train []Row) {
	e.EachRow(p, func(s, t *Row) error {
		if s != nil {
			score = append(score, *s)
		}
		if t != nil {
			train = append(train, *t)
		}
		return nil
	})
	return score, train
}

// EachRow is Rows one user at a time, in user id order: fn gets the user's
// scoring row and training row (nil when the user has none) and may keep
// them. It stops at fn's first error and returns it. Streaming the rows
// keeps a shard's memory to its events, not its events and all its rows.
func (e *Events) EachRow(p Params, fn func(score, train *Row) error) error {
	c := newCalc(e, p)
	end, cutoff, labelEnd := p.End.UnixMilli(), p.Cutoff.UnixMilli(), p.LabelEnd.UnixMilli()
	var err error
	e.each(func(user string, evs []event) {
		if err != nil {
			return
		}
		m, k := 0, 0
		label := 0.0
		for i := range evs {
			ts := evs[i].ts
			if ts <= end {
				m = i + 1
			}
			if ts < cutoff {
				k = i + 1
			} else if evs[i].typ == tPurchase && ts <= labelEnd && ts <= end {
				label = 1
			}
		}
		var s, t *Row
		if m > 0 {
			r := c.row(user, evs[:m], end, true)
			s = &r
		}
		if k > 0 {
			r := c.row(user, evs[:k], cutoff, false)
			r.Label = label
			t = &r
		}
		if s != nil || t != nil {
			err = fn(s, t)
		}
	})
	return err
}

// calc computes rows, with scratch space reused from user to user.
type calc struct {
	e        *Events
	p        Params
	weights  [nTypes]float64
	textTerm [][]int32 // vocabulary indices of each text (nil: not yet tokenized)
	textDeal []int8    // 0 unknown, 1 a deal search, 2 not
	catTerm  [][]int32
	itemRef  []float64 // reference price by item id; 0 unknown
	doc      interest.Doc
	vec      interest.Sparse
	orders   map[int64]int // orders by key, beyond the last one
	ord      []order
	// Weighted events by category id, and the categories touched in
	// first-seen order: a slice indexed by id, not a map, for every user.
	cats    []float64
	catSeen []bool
	catList []int32
	tokens  []string
}

type order struct {
	key        int64
	ts         int64
	value      float64
	discounted bool
}

func newCalc(e *Events, p Params) *calc {
	c := &calc{e: e, p: p, orders: map[int64]int{}}
	c.cats = make([]float64, len(e.cats.names))
	c.catSeen = make([]bool, len(e.cats.names))
	for t := range nTypes {
		c.weights[t] = p.Interest.Weight(typeNames[t])
	}
	c.textTerm = make([][]int32, len(e.texts.names))
	c.textDeal = make([]int8, len(e.texts.names))
	c.catTerm = make([][]int32, len(e.cats.names))
	c.itemRef = make([]float64, len(e.items.names))
	for i, id := range e.items.names {
		c.itemRef[i] = p.Prices[id]
	}
	return c
}

// terms returns the vocabulary indices of a text's terms (cached).
func (c *calc) terms(cache [][]int32, d *dict, id int32) []int32 {
	if id < 0 || c.p.Vocab == nil {
		return nil
	}
	if t := cache[id]; t != nil {
		return t
	}
	c.tokens = c.p.Interest.Terms(d.name(id), c.tokens[:0])
	t := make([]int32, 0, len(c.tokens))
	for _, tok := range c.tokens {
		if i := c.p.Vocab.Index(tok); i >= 0 {
			t = append(t, i)
		}
	}
	cache[id] = t
	return t
}

// deal reports whether a search text contains a deal word (cached).
func (c *calc) deal(id int32) bool {
	if id < 0 {
		return false
	}
	if c.textDeal[id] == 0 {
		c.textDeal[id] = 2
		c.tokens = interest.Tokenize(c.e.texts.name(id), c.tokens[:0])
		for _, t := range c.tokens {
			if dealWords[t] {
				c.textDeal[id] = 1
				break
			}
		}
	}
	return c.textDeal[id] == 1
}

// row computes one user's row from evs (in time order) as of asOf (ms).
func (c *calc) row(user string, evs []event, asOf int64, scoring bool) Row {
	clear(c.orders)
	for _, id := range c.catList {
		c.cats[id], c.catSeen[id] = 0, false
	}
	c.catList = c.catList[:0]
	c.ord = c.ord[:0]
	c.doc.Reset()
	var (
		boughtUnits, returnedUnits  int64
		returned                    float64
		views, searches, carts      int64
		viewPrice                   float64
		dealSearches, app, email    int64
		sessions, cartSessions      int64
		abandoned                   int64
		sessCart, sessBuy, sessDeal bool
		last                        int64
	)
	endSession := func() {
		if sessCart {
			cartSessions++
			if !sessBuy {
				abandoned++
			}
		}
	}
	for i := range evs {
		ev := &evs[i]
		if i == 0 || ev.ts-last > SessionGap.Milliseconds() {
			if i > 0 {
				endSession()
			}
			sessions++
			sessCart, sessBuy, sessDeal = false, false, false
		}
		last = ev.ts
		switch ev.ch {
		case channelApp:
			app++
		case channelEmail:
			email++
		}
		w := c.weights[ev.typ]
		if ev.cat >= 0 {
			if !c.catSeen[ev.cat] {
				c.catSeen[ev.cat] = true
				c.catList = append(c.catList, ev.cat)
			}
			c.cats[ev.cat] += w
		}
		if w > 0 {
			for _, t := range c.terms(c.textTerm, &c.e.texts, ev.text) {
				c.doc.Add(t, w)
			}
			for _, t := range c.terms(c.catTerm, &c.e.cats, ev.cat) {
				c.doc.Add(t, w)
			}
		}
		value := float64(ev.qty) * math.Max(0, ev.price)
		switch ev.typ {
		case tView:
			views++
			viewPrice += math.Max(0, ev.price)
		case tSearch:
			searches++
			if c.deal(ev.text) {
				sessDeal = true
				dealSearches++
			}
		case tCart:
			carts++
			sessCart = true
		case tPurchase:
			sessBuy = true
			key := int64(ev.order)
			if ev.order < 0 { // no order id: the lines of one moment are one order
				key = -1 - ev.ts
			}
			// An order's lines are usually adjacent: the last order is
			// checked before the map, which holds the earlier ones.
			j := len(c.ord) - 1
			if j < 0 || c.ord[j].key != key {
				if len(c.ord) > 0 {
					c.orders[c.ord[j].key] = j
				}
				var ok bool
				if j, ok = c.orders[key]; !ok {
					j = len(c.ord)
					c.ord = append(c.ord, order{key: key, ts: ev.ts})
				}
			}
			o := &c.ord[j]
			o.value += value
			boughtUnits += int64(ev.qty)
			if sessDeal {
				o.discounted = true
			}
			if ev.item >= 0 {
				if ref := c.itemRef[ev.item]; ref > 0 && ev.price > 0 && ev.price < ref*(1-DiscountTolerance) {
					o.discounted = true
				}
			}
		case tReturn:
			returned += value
			returnedUnits += int64(ev.qty)
		}
	}
	endSession()

	v := make([]float64, len(Names))
	days := func(ms int64) float64 { return float64(ms) / dayMS }
	tenure := math.Max(0, days(asOf-evs[0].ts))
	n := len(c.ord)
	var bought float64
	var discounted int
	for _, o := range c.ord {
		bought += o.value
		if o.discounted {
			discounted++
		}
	}
	// Orders were created in time order (events are sorted), so c.ord is
	// sorted by first line time.
	v[0] = MaxRecency
	if n > 0 {
		v[0] = math.Min(MaxRecency, math.Max(0, days(asOf-c.ord[n-1].ts)))
	}
	v[1] = float64(n)
	v[2] = math.Max(0, bought-returned)
	if n > 0 {
		v[3] = v[2] / float64(n)
	}
	v[4] = tenure
	switch {
	case n >= 2:
		v[5] = days(c.ord[n-1].ts-c.ord[0].ts) / float64(n-1)
	case n == 1:
		v[5] = math.Max(0, days(asOf-c.ord[0].ts)) // no repeat yet: at least this long
	default:
		v[5] = tenure
	}
	if n >= 3 {
		lastGap := days(c.ord[n-1].ts - c.ord[n-2].ts)
		earlier := days(c.ord[n-2].ts-c.ord[0].ts) / float64(n-2)
		v[6] = math.Log((lastGap + 1) / (earlier + 1))
	}
	switch {
	case boughtUnits > 0:
		v[7] = math.Min(1, float64(returnedUnits)/float64(boughtUnits))
	case returnedUnits > 0:
		v[7] = 1 // returns of orders placed before the history
	}
	if n > 0 {
		v[8] = float64(discounted) / float64(n)
	}
	v[9] = float64(len(c.catList))
	weeks := math.Max(1, tenure/7)
	v[10] = float64(sessions) / weeks
	v[11] = float64(views) / weeks
	v[12] = float64(searches) / weeks
	v[13] = float64(carts) / weeks
	if cartSessions > 0 {
		v[14] = float64(abandoned) / float64(cartSessions)
	}
	if views > 0 {
		v[15] = viewPrice / float64(views)
	}
	v[16] = float64(dealSearches)
	v[17] = float64(app) / float64(len(evs))
	v[18] = float64(email) / float64(len(evs))

	r := Row{UserID: user, Values: v}
	if c.p.Vocab != nil && c.doc.Len() > 0 {
		c.p.Vocab.VectorTo(&c.doc, &c.vec)
		if c.p.Proj != nil {
			c.p.Proj.Apply(c.vec, v[len(Behaviour):len(Behaviour)+c.p.Proj.Dim()])
		}
		if scoring {
			r.Terms = c.p.Vocab.Top(c.vec, c.p.Interest.Top)
		}
	}
	if scoring {
		r.Categories = c.affinities()
	}
	return r
}

// affinities returns the user's top categories by share of weighted events.
func (c *calc) affinities() []interest.Term {
	var total float64
	for _, id := range c.catList {
		total += c.cats[id]
	}
	if total <= 0 {
		return nil
	}
	out := make([]interest.Term, 0, len(c.catList))
	for _, id := range c.catList {
		if w := c.cats[id]; w > 0 {
			out = append(out, interest.Term{Term: c.e.cats.name(id), Weight: w / total})
		}
	}
	return interest.TopTerms(out, TopCategories)
}

// Profile is what one shard contributes to the global statistics of the
// profile pass: document frequencies of terms, purchase prices by item,
// and counts.
type Profile struct {
	DF     interest.Counts // documents (users) containing each term
	Prices PriceCounts     // purchase lines by item and unit price
	Users  int64           // users with an event up to End: the documents
	Events int64           // events up to End
}

// Profile counts, over the events up to end, the document frequency of
// every term (a user's document holds the terms of their events with a
// positive weight under cfg: texts and categories) and the purchase lines
// of every item at every unit price.
func (e *Events) Profile(cfg interest.Config, end time.Time) Profile {
	p := Profile{DF: interest.Counts{}, Prices: PriceCounts{}}
	endMS := end.UnixMilli()
	var weights [nTypes]float64
	for t := range nTypes {
		weights[t] = cfg.Weight(typeNames[t])
	}
	var terms dict // local term ids
	textTerms := make([][]int32, len(e.texts.names))
	catTerms := make([][]int32, len(e.cats.names))
	var tokens []string
	tokenize := func(cache [][]int32, d *dict, id int32) []int32 {
		if id < 0 {
			return nil
		}
		if t := cache[id]; t != nil {
			return t
		}
		tokens = cfg.Terms(d.name(id), tokens[:0])
		t := make([]int32, len(tokens))
		for i, tok := range tokens {
			t[i] = terms.id(tok)
		}
		cache[id] = t
		return t
	}
	var df []int64
	var seenBy []int32 // last user (+1) that counted each term
	userNo := int32(0)
	count := func(ids []int32) {
		for _, t := range ids {
			for int(t) >= len(df) {
				df = append(df, 0)
				seenBy = append(seenBy, 0)
			}
			if seenBy[t] != userNo {
				seenBy[t] = userNo
				df[t]++
			}
		}
	}
	e.each(func(_ string, evs []event) {
		userNo++
		any := false
		for i := range evs {
			ev := &evs[i]
			if ev.ts > endMS {
				break
			}
			any = true
			p.Events++
			if weights[ev.typ] > 0 {
				count(tokenize(textTerms, &e.texts, ev.text))
				count(tokenize(catTerms, &e.cats, ev.cat))
			}
			if ev.typ == tPurchase && ev.price > 0 && ev.item >= 0 {
				p.Prices[ItemPrice{Item: e.items.name(ev.item), Price: ev.price}]++
			}
		}
		if any {
			p.Users++
		}
	})
	for t, n := range df {
		if n > 0 {
			p.DF[terms.name(int32(t))] = n
		}
	}
	return p
}

// ItemPrice is an item at a unit price.
type ItemPrice struct {
	Item  string
	Price float64
}

// PriceCounts count purchase lines by item and unit price; counts of
// disjoint sets of users merge by addition.
type PriceCounts map[ItemPrice]int64

// Merge adds o into p.
func (p PriceCounts) Merge(o PriceCounts) {
	for k, n := range o {
		p[k] += n
	}
}

// RefPrices returns every item's reference price: the unit price it was
// most often bought at (ties: the higher price). A line below it (by more
// than DiscountTolerance) was bought at a discount.
func RefPrices(p PriceCounts) map[string]float64 {
	type best struct {
		price float64
		n     int64
	}
	b := map[string]best{}
	for k, n := range p {
		cur, ok := b[k.Item]
		if !ok || n > cur.n || n == cur.n && k.Price > cur.price {
			b[k.Item] = best{k.Price, n}
		}
	}
	out := make(map[string]float64, len(b))
	for item, x := range b {
		out[item] = x.price
	}
	return out
}

// EachDoc calls fn, in user id order, for every user with an event up to
// end, with the user's document over p.Vocab: the weighted counts of the
// terms of their events' texts and categories, as the interest features
// count them (p.Interest's weights; an empty document when no term is in
// the vocabulary). doc is reused from call to call.
func (e *Events) EachDoc(p Params, end time.Time, fn func(user string, doc *interest.Doc) error) error {
	c := newCalc(e, p)
	endMS := end.UnixMilli()
	var err error
	e.each(func(user string, evs []event) {
		if err != nil || len(evs) == 0 || evs[0].ts > endMS {
			return
		}
		c.doc.Reset()
		for i := range evs {
			ev := &evs[i]
			if ev.ts > endMS {
				break
			}
			if w := c.weights[ev.typ]; w > 0 {
				for _, t := range c.terms(c.textTerm, &c.e.texts, ev.text) {
					c.doc.Add(t, w)
				}
				for _, t := range c.terms(c.catTerm, &c.e.cats, ev.cat) {
					c.doc.Add(t, w)
				}
			}
		}
		err = fn(user, &c.doc)
	})
	return err
}
