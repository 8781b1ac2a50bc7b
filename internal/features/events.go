package features

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/promoflow/promoflow/internal/canon"
)

// Events holds one shard's events in a compact form (strings interned,
// 48 bytes an event in fixed-size chunks, so that growing never copies them)
// so that they can be grouped by user whatever order they arrive in. Add
// events with Add or AddRecord, then read them user by user. Events
// without a user id or of an unknown type are skipped (Skipped counts
// them).
type Events struct {
	users, items, cats, texts, orders dict
	chunks                            [][]event
	hints                             []itemHint // by item id
	n                                 int
	// After grouping: the events' positions by user (in user id order),
	// then time, then arrival; byUser[starts[r]:starts[r+1]] are the
	// events of the user of rank r.
	byUser  []int32
	starts  []int32
	ranked  []int32 // user ids in rank order
	grouped bool
	// Skipped counts events without a user id or with an unknown type.
	Skipped int64
}

// chunkBits sets the events per chunk: 65,536 (3 MiB).
const chunkBits = 16

func (e *Events) at(i int32) *event {
	return &e.chunks[i>>chunkBits][i&(1<<chunkBits-1)]
}

// event is one event, its strings replaced by dictionary ids (-1: empty).
type event struct {
	ts    int64 // Unix milliseconds
	price float64
	user  int32
	item  int32
	cat   int32
	text  int32
	order int32
	qty   int32 // absolute quantity, at least 1
	typ   uint8
	ch    uint8 // channelOther, channelApp or channelEmail
}

// Channels the features tell apart; every other channel (web, store, ...)
// and a missing one count as other.
const (
	channelOther uint8 = iota
	channelApp
	channelEmail
)

func channelOf(s string) uint8 {
	switch {
	case strings.EqualFold(s, "app"):
		return channelApp
	case strings.EqualFold(s, "email"):
		return channelEmail
	}
	return channelOther
}

// Event types, in the order of canon's constants.
const (
	tView uint8 = iota
	tSearch
	tCart
	tPurchase
	tReturn
	nTypes
)

var typeNames = [nTypes]string{canon.View, canon.Search, canon.Cart, canon.Purchase, canon.Return}

func typeOf(s string) (uint8, bool) {
	for i, n := range typeNames {
		if s == n {
			return uint8(i), true
		}
	}
	return 0, false
}

// dict interns strings: id -1 is the empty string.
type dict struct {
	ids   map[string]int32
	names []string
	// The last string looked up and its id: events come in runs of the same
	// user (and often item, category or order), and comparing with the last
	// string is much cheaper than hashing it.
	last   string
	lastID int32
}

func (d *dict) id(s string) int32 {
	if s == "" {
		return -1
	}
	if len(d.names) > 0 && s == d.last {
		return d.lastID
	}
	if d.ids == nil && len(d.names) > 0 { // read back from a spill: names only
		d.ids = make(map[string]int32, len(d.names))
		for i, n := range d.names {
			d.ids[n] = int32(i)
		}
	}
	if i, ok := d.ids[s]; ok {
		d.last, d.lastID = d.names[i], i
		return i
	}
	if d.ids == nil {
		d.ids = map[string]int32{}
	}
	s = string([]byte(s)) // s may point into an Arrow buffer
	i := int32(len(d.names))
	d.ids[s] = i
	d.names = append(d.names, s)
	d.last, d.lastID = s, i
	return i
}

// itemHint is an item's last category and text ids (-2: none yet).
type itemHint struct{ cat, text int32 }

// hinted returns the id of s in d, through *hint: the id s had last time
// in the same place.
func hinted(d *dict, hint *int32, s string) int32 {
	if *hint >= -1 && d.name(*hint) == s {
		return *hint
	}
	*hint = d.id(s)
	return *hint
}

func (d *dict) name(i int32) string {
	if i < 0 {
		return ""
	}
	return d.names[i]
}

// Len is the number of events held.
func (e *Events) Len() int { return e.n }

// Users is the number of distinct users.
func (e *Events) Users() int { return len(e.users.names) }

// Add adds one event.
func (e *Events) Add(ev canon.Event) {
	typ, ok := typeOf(ev.Type)
	if !ok || ev.UserID == "" {
		e.Skipped++
		return
	}
	e.add(ev.UserID, ev.TS.UnixMilli(), typ, ev.ItemID, ev.Category, ev.Text, ev.OrderID, ev.Quantity, ev.Price, channelOf(ev.Channel))
}

func (e *Events) add(user string, ts int64, typ uint8, item, cat, text, order string, qty int64, price float64, ch uint8) {
	if qty < 0 {
		qty = -qty
	}
	if qty == 0 {
		qty = 1
	}
	if e.n == len(e.chunks)<<chunkBits {
		e.chunks = append(e.chunks, make([]event, 0, 1<<chunkBits))
	}
	c := &e.chunks[len(e.chunks)-1]
	it := e.items.id(item)
	var ct, tx int32
	if it >= 0 {
		// An item nearly always comes with the same category and title:
		// comparing with the item's last ones spares hashing them.
		for int(it) >= len(e.hints) {
			e.hints = append(e.hints, itemHint{-2, -2})
		}
		h := &e.hints[it]
		ct, tx = hinted(&e.cats, &h.cat, cat), hinted(&e.texts, &h.text, text)
	} else {
		ct, tx = e.cats.id(cat), e.texts.id(text)
	}
	*c = append(*c, event{
		ts: ts, price: price, typ: typ, ch: ch, qty: int32(min(qty, math.MaxInt32)),
		user: e.users.id(user), item: it, cat: ct, text: tx, order: e.orders.id(order),
	})
	e.n++
	e.grouped = false
}

// AddRecord adds the rows of a record of the canonical events table. Columns
// are found by name (canon.EventColumns), so extra columns are ignored.
func (e *Events) AddRecord(rec arrow.Record) error {
	col := func(name string) (arrow.Array, error) {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("events record: no column %q", name)
		}
		return rec.Column(idx[0]), nil
	}
	strs := map[string]*array.String{}
	for _, name := range []string{"user_id", "type", "item_id", "category", "text", "order_id"} {
		c, err := col(name)
		if err != nil {
			return err
		}
		s, ok := c.(*array.String)
		if !ok {
			return fmt.Errorf("events record: column %q is %v, want string", name, c.DataType())
		}
		strs[name] = s
	}
	c, err := col("ts")
	if err != nil {
		return err
	}
	ts, ok := c.(*array.Timestamp)
	if !ok {
		return fmt.Errorf("events record: column ts is %v, want timestamp", c.DataType())
	}
	unit := ts.DataType().(*arrow.TimestampType).Unit
	if c, err = col("quantity"); err != nil {
		return err
	}
	qty, ok := c.(*array.Int64)
	if !ok {
		return fmt.Errorf("events record: column quantity is %v, want int64", c.DataType())
	}
	if c, err = col("price"); err != nil {
		return err
	}
	price, ok := c.(*array.Float64)
	if !ok {
		return fmt.Errorf("events record: column price is %v, want float64", c.DataType())
	}
	// The channel is optional: tables written before it was read lack it.
	var channel *array.String
	if idx := rec.Schema().FieldIndices("channel"); len(idx) == 1 {
		channel, _ = rec.Column(idx[0]).(*array.String)
	}
	str := func(a *array.String, i int) string {
		if a.IsNull(i) {
			return ""
		}
		return a.Value(i)
	}
	user, typ := strs["user_id"], strs["type"]
	item, cat, text, order := strs["item_id"], strs["category"], strs["text"], strs["order_id"]
	for i := 0; i < int(rec.NumRows()); i++ {
		t, ok := typeOf(str(typ, i))
		u := str(user, i)
		if !ok || u == "" || ts.IsNull(i) {
			e.Skipped++
			continue
		}
		ms := toMillis(int64(ts.Value(i)), unit)
		var q int64
		if !qty.IsNull(i) {
			q = qty.Value(i)
		}
		var p float64
		if !price.IsNull(i) {
			p = price.Value(i)
		}
		ch := channelOther
		if channel != nil {
			ch = channelOf(str(channel, i))
		}
		e.add(u, ms, t, str(item, i), str(cat, i), str(text, i), str(order, i), q, p, ch)
	}
	return nil
}

func toMillis(v int64, unit arrow.TimeUnit) int64 {
	switch unit {
	case arrow.Second:
		return v * 1000
	case arrow.Microsecond:
		return v / 1000
	case arrow.Nanosecond:
		return v / 1000000
	}
	return v
}

// group orders the events by user id, then time; events of one user at
// the same time keep the order they were added in (source, then row), so
// the grouping does not depend on how users were spread over shards. It
// sorts positions, not events: a counting pass by user rank (linear, and
// stable), then each user's few events by time.
func (e *Events) group() {
	if e.grouped {
		return
	}
	nu := len(e.users.names)
	order := make([]int32, nu)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(e.users.names[a], e.users.names[b]) })
	rank := make([]int32, nu)
	for r, u := range order {
		rank[u] = int32(r)
	}
	starts := make([]int32, nu+1)
	for _, c := range e.chunks {
		for i := range c {
			starts[rank[c[i].user]+1]++
		}
	}
	for r := range nu {
		starts[r+1] += starts[r]
	}
	next := slices.Clone(starts[:nu])
	byUser := make([]int32, e.n)
	for k, c := range e.chunks {
		for i := range c {
			r := rank[c[i].user]
			byUser[next[r]] = int32(k<<chunkBits + i)
			next[r]++
		}
	}
	for r := range nu {
		slices.SortStableFunc(byUser[starts[r]:starts[r+1]], func(a, b int32) int { return cmp.Compare(e.at(a).ts, e.at(b).ts) })
	}
	e.byUser, e.starts, e.ranked, e.grouped = byUser, starts, order, true
}

// each calls fn for every user in user id order with the user's events in
// time order. evs is reused from call to call.
func (e *Events) each(fn func(user string, evs []event)) {
	e.group()
	var evs []event
	for r, u := range e.ranked {
		evs = evs[:0]
		for _, i := range e.byUser[e.starts[r]:e.starts[r+1]] {
			evs = append(evs, *e.at(i))
		}
		fn(e.users.names[u], evs)
	}
}

// ItemEvent is an event that names an item, as a recommender reads it.
type ItemEvent struct {
	Item     int32  // the item's index in Items
	Category int32  // index in Categories; -1: none
	Text     int32  // index in Texts; -1: none
	Order    int32  // index in Orders; -1: none
	Type     string // the canon event type
	Time     int64  // Unix milliseconds
}

// Items returns the names of the items the events name, by ItemEvent.Item.
func (e *Events) Items() []string { return e.items.names }

// Categories returns the categories the events name, by ItemEvent.Category.
func (e *Events) Categories() []string { return e.cats.names }

// Texts returns the texts of the events, by ItemEvent.Text.
func (e *Events) Texts() []string { return e.texts.names }

// Orders returns the order ids of the events, by ItemEvent.Order.
func (e *Events) Orders() []string { return e.orders.names }

// EachItemHistory calls fn for every user in user id order with the
// user's events up to end (Unix ms) that name an item, in time order (the
// order EachRow reads them in). evs is reused from call to call; users
// without such an event are skipped.
func (e *Events) EachItemHistory(end int64, fn func(user string, evs []ItemEvent) error) error {
	e.group()
	var evs []ItemEvent
	for r, u := range e.ranked {
		evs = evs[:0]
		for _, i := range e.byUser[e.starts[r]:e.starts[r+1]] {
			if ev := e.at(i); ev.item >= 0 && ev.ts <= end {
				evs = append(evs, ItemEvent{Item: ev.item, Category: ev.cat, Text: ev.text, Order: ev.order, Type: typeNames[ev.typ], Time: ev.ts})
			}
		}
		if len(evs) == 0 {
			continue
		}
		if err := fn(e.users.names[u], evs); err != nil {
			return err
		}
	}
	return nil
}
