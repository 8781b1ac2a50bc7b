// Package synth generates deterministic synthetic e-commerce event histories
// with planted structure, in the canonical events layout.
//
// Every user belongs to a hidden persona (champion, loyal, bargain_hunter,
// new, at_risk, browser) that drives how often they visit, how much they buy,
// what they look at, when they stop or start; a user's response to each
// promotional offer follows from that behaviour (the effect model of
// WriteHistory). The persona and the offer responses are the ground truth
// later stages must recover; PersonaOf and Truth recompute them for any user
// without the generated file. The personas, with their shares of users and
// their mean responses (MeanUplift):
//
//   - champion (10%): visits often, buys in half of the visits, large baskets
//     of pricier items; responds to points2x, not to discounts.
//   - loyal (22%): regular, medium baskets; discount10 slightly hurts.
//   - bargain_hunter (20%): small baskets of cheap items, searches for deals,
//     returns more; responds strongly to discount10 and coupon5.
//   - new (13%): first visit within the last 75 days, few events; responds
//     mildly to everything but points2x.
//   - at_risk (15%): bought before, silent for the last 60 to 130 days;
//     responds to coupon5.
//   - browser (20%): many views and searches, rarely buys, returns most;
//     responds to free_shipping.
//
// Activity is a stationary Poisson process per user except for new (starts
// late) and at_risk (stops), so the last four weeks are predictable from the
// weeks before. Each user concentrates on 1 to 3 favourite categories.
//
// All randomness derives from Config.Seed and the user's index through
// per-user PCG generators, so a user's events do not depend on how many other
// users are generated, and the output is byte-identical for a given Config.
package synth

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/flate"

	"github.com/promoflow/promoflow/internal/blockgz"
	"github.com/promoflow/promoflow/internal/canon"
)

// Config selects what to generate.
type Config struct {
	Users int       // number of users
	Seed  int64     // everything derives from it
	End   time.Time // last moment of history; zero means 2026-11-23T00:00:00Z
	Days  int       // length of history in days; zero means 182
}

// DefaultEnd is the end of history when Config.End is zero.
var DefaultEnd = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// DefaultDays is the length of history when Config.Days is zero.
const DefaultDays = 182

// Window is the length of the horizon over which Persona.Base and
// Persona.Uplift are purchase probabilities: four weeks.
const Window = 28 * 24 * time.Hour

// Stats summarises a generated history.
type Stats struct {
	Users     int              // users written
	Events    int64            // event rows written, header excluded
	ByType    map[string]int64 // event rows by type
	ByPersona map[string]int   // users by persona name
}

// Persona is a user's hidden ground truth.
type Persona struct {
	// Name is one of Personas; empty for a malformed user id.
	Name string
	// Uplift maps each offer in Offers to the additive increase in the
	// user's probability of purchasing within Window after End if given that
	// offer: the user's true effect. It is a function of the user's
	// behaviour up to End (the covariates of WriteHistory) plus a small
	// hidden per-user term, clipped to [-Base/2, 1-Base]; see WriteHistory
	// for the model.
	Uplift map[string]float64
	// Base is the user's probability of purchasing within Window after End
	// without any offer.
	Base float64
	// Categories are the user's favourite categories, most favoured first;
	// most of their activity falls in them.
	Categories []string
}

// Offers are the offer ids of the skeleton catalog, the keys of
// Persona.Uplift.
var Offers = []string{"discount10", "coupon5", "free_shipping", "points2x"}

// Personas are the persona names, in a fixed order.
var Personas = []string{"champion", "loyal", "bargain_hunter", "new", "at_risk", "browser"}

// Categories are the item categories, in a fixed order.
var Categories = []string{"shoes", "dresses", "bags", "beauty", "home", "kids", "sports", "electronics"}

// Channels are the values of the channel column.
var Channels = []string{"web", "app", "email"}

// Shares returns the configured share of users of each persona, by name.
func Shares() map[string]float64 {
	m := make(map[string]float64, len(personas))
	for i := range personas {
		m[personas[i].name] = personas[i].share
	}
	return m
}

// MeanUplift returns the persona's mean uplift per offer: the average over
// its users of Persona.Uplift, which the effect model computes from each
// user's behaviour (see WriteHistory); measured on 20,000 users and checked
// by the tests to within 0.01. nil for an unknown persona.
func MeanUplift(persona string) map[string]float64 {
	for i := range personas {
		if personas[i].name == persona {
			m := make(map[string]float64, len(Offers))
			for j, o := range Offers {
				m[o] = personas[i].uplift[j]
			}
			return m
		}
	}
	return nil
}

// UserID returns the id of the i-th user, counting from 1: "u0000001".
func UserID(i int) string {
	return "u" + pad7(i)
}

func pad7(i int) string {
	s := strconv.Itoa(i)
	if len(s) < 7 {
		s = strings.Repeat("0", 7-len(s)) + s
	}
	return s
}

// userIndex parses a UserID; it returns 0 for anything else.
func userIndex(id string) int {
	if len(id) < 8 || id[0] != 'u' {
		return 0
	}
	for _, c := range id[1:] {
		if c < '0' || c > '9' {
			return 0
		}
	}
	i, err := strconv.Atoi(id[1:])
	if err != nil || i < 1 || UserID(i) != id {
		return 0
	}
	return i
}

// PersonaOf returns the hidden persona of userID under cfg, exactly as Write
// draws it. It does not depend on cfg.Users. A malformed id gives the zero
// Persona.
//
// Persona.Uplift depends on the user's events, which PersonaOf generates:
// to look up many users, use a Truth, which reuses the generator.
func PersonaOf(cfg Config, userID string) Persona {
	return NewTruth(cfg).Persona(userID)
}

// Truth looks up the hidden ground truth of the users of one Config: what
// PersonaOf returns, faster for many users because the generator (item
// catalog, buffers) is built once. A Truth is not safe for concurrent use;
// give each goroutine its own.
type Truth struct {
	g *gen
}

// NewTruth returns the ground truth of the users cfg generates. Like
// PersonaOf, it does not depend on cfg.Users.
func NewTruth(cfg Config) *Truth {
	return &Truth{g: newGen(cfg)}
}

// Persona returns userID's hidden persona, base rate and offer effects,
// exactly as PersonaOf does. A malformed id gives the zero Persona.
func (t *Truth) Persona(userID string) Persona {
	i := userIndex(userID)
	if i == 0 {
		return Persona{}
	}
	g := t.g
	pr := g.profile(i)
	p := &personas[pr.persona]
	cov := g.covariates(i, &pr)
	eff := effects(&cov, pr.base, pr.noise)
	up := make(map[string]float64, len(Offers))
	for j, o := range Offers {
		up[o] = eff[j]
	}
	cats := make([]string, len(pr.favs))
	for j, c := range pr.favs {
		cats[j] = Categories[c]
	}
	return Persona{Name: p.name, Uplift: up, Base: pr.base, Categories: cats}
}

// Write generates cfg.Users users and writes their events to w as canonical
// event CSV: header canon.EventColumns, then each user's events in time
// order, user after user. Memory does not grow with cfg.Users.
//
// Timestamps are whole seconds in UTC. Views, carts, purchases and returns
// carry the item, its category, title and unit price, and a quantity of 1 to
// 3 (1 for views); searches carry only the query in text, with quantity and
// price 0. Purchases and returns carry an order id; the lines of one order
// share its timestamp and channel, and a return repeats the line it returns.
func Write(w io.Writer, cfg Config) (Stats, error) {
	st := Stats{ByType: map[string]int64{}, ByPersona: map[string]int{}}
	if cfg.Users < 0 {
		return st, fmt.Errorf("synth: Users = %d", cfg.Users)
	}
	if cfg.Days < 0 {
		return st, fmt.Errorf("synth: Days = %d", cfg.Days)
	}
	g := newGen(cfg)
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := csv.NewWriter(bw) // reuses bw: its buffer is large enough
	if err := cw.Write(canon.EventColumns); err != nil {
		return st, err
	}
	var byType [nTypes]int64
	var rec [10]string
	var tsBuf []byte
	for i := 1; i <= cfg.Users; i++ {
		pr := g.profile(i)
		evs := g.events(i, &pr)
		st.Users++
		st.ByPersona[personas[pr.persona].name]++
		uid := UserID(i)
		for k := range evs {
			e := &evs[k]
			byType[e.typ]++
			tsBuf = time.Unix(e.ts, 0).UTC().AppendFormat(tsBuf[:0], time.RFC3339)
			rec[0] = uid
			rec[1] = string(tsBuf)
			rec[2] = typeNames[e.typ]
			rec[3], rec[4], rec[7] = "", "", "0"
			if e.item != nil {
				rec[3] = e.item.id
				rec[4] = Categories[e.item.cat]
				rec[7] = e.item.priceStr
			}
			rec[5] = e.text
			rec[6] = strconv.Itoa(e.qty)
			rec[8] = e.order
			rec[9] = Channels[e.channel]
			if err := cw.Write(rec[:]); err != nil {
				return st, err
			}
		}
		st.Events += int64(len(evs))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return st, err
	}
	for t, n := range byType {
		if n > 0 {
			st.ByType[typeNames[t]] = n
		}
	}
	return st, nil
}

// WriteFile writes the CSV of Write to path, gzip-compressed when path ends
// in ".gz", creating missing parent directories. The file appears only
// complete: it is written under a temporary name and renamed.
func WriteFile(path string, cfg Config) (st Stats, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return st, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	var w io.Writer = f
	var zw *blockgz.Writer
	if strings.HasSuffix(path, ".gz") {
		// Block gzip, which any gzip reader reads and ingest splits
		// without inflating. Generation is fast; default compression
		// would triple the time.
		if zw, err = blockgz.NewWriter(f, flate.BestSpeed, blockgz.DefaultBlockBytes, true); err != nil {
			return st, err
		}
		w = zw
	}
	if st, err = Write(w, cfg); err != nil {
		return st, err
	}
	if zw != nil {
		if err = zw.Close(); err != nil {
			return st, err
		}
	}
	if err = f.Chmod(0o644); err != nil {
		return st, err
	}
	if err = f.Close(); err != nil {
		return st, err
	}
	return st, os.Rename(tmp, path)
}

// Event types, indexes into typeNames.
const (
	tView = iota
	tSearch
	tCart
	tPurchase
	tReturn
	nTypes
)

var typeNames = [nTypes]string{canon.View, canon.Search, canon.Cart, canon.Purchase, canon.Return}

const day = 86400 // seconds

// persona is the configuration of one persona.
type persona struct {
	name  string
	share float64
	// Activity.
	rate    float64 // visits (sessions) per active day, population mean
	buy     float64 // probability that a session places an order
	views   float64 // mean views per session beyond the first
	search  float64 // probability that a session starts with searches
	cart    float64 // probability of an abandoned cart in a session without order
	lines   float64 // mean order lines beyond the first (Poisson, at most 4 lines)
	qty     float64 // probability of a second unit in a line
	price   int     // item choice: +k most expensive of k+1 draws, -k cheapest
	ret     float64 // probability that a purchased line is returned
	deal    float64 // probability that a search query carries a deal word
	nfav    [3]float64
	cats    [8]float64 // weights of Categories as favourites
	channel [3]float64 // weights of Channels
	uplift  [4]float64 // mean effect per Offers of the effect model (history.go), measured; MeanUplift
}

var personas = [...]persona{
	{
		name: "champion", share: 0.10,
		rate: 0.08, buy: 0.50, views: 1.5, search: 0.30, cart: 0.20, lines: 1.0, qty: 0.30, price: 1, ret: 0.07,
		nfav:    [3]float64{0.2, 0.4, 0.4},
		cats:    [8]float64{3, 2, 3, 1, 1, 1, 1.5, 3},
		channel: [3]float64{0.30, 0.55, 0.15},
		uplift:  [4]float64{-0.01, 0.035, 0.01, 0.08},
	},
	{
		name: "loyal", share: 0.22,
		rate: 0.05, buy: 0.38, views: 1.4, search: 0.35, cart: 0.15, lines: 0.5, qty: 0.20, price: 0, ret: 0.06,
		nfav:    [3]float64{0.3, 0.45, 0.25},
		cats:    [8]float64{1, 1.5, 1, 2, 3, 2.5, 1, 1},
		channel: [3]float64{0.40, 0.35, 0.25},
		uplift:  [4]float64{-0.02, 0.06, 0.02, 0.04},
	},
	{
		name: "bargain_hunter", share: 0.20,
		rate: 0.045, buy: 0.28, views: 1.9, search: 0.60, cart: 0.30, lines: 0.2, qty: 0.35, price: -2, ret: 0.12, deal: 0.45,
		nfav:    [3]float64{0.3, 0.4, 0.3},
		cats:    [8]float64{1, 1.5, 0.7, 3, 2, 3, 1, 0.7},
		channel: [3]float64{0.35, 0.25, 0.40},
		uplift:  [4]float64{0.135, 0.145, 0.035, 0.015},
	},
	{
		name: "new", share: 0.13,
		rate: 0.08, buy: 0.20, views: 2.0, search: 0.50, cart: 0.20, lines: 0.3, qty: 0.15, price: 0, ret: 0.10, deal: 0.10,
		nfav:    [3]float64{0.6, 0.3, 0.1},
		cats:    [8]float64{2, 3, 1.5, 2.5, 1, 1, 1.5, 1},
		channel: [3]float64{0.60, 0.30, 0.10},
		uplift:  [4]float64{0.055, 0.055, 0.07, 0.01},
	},
	{
		name: "at_risk", share: 0.15,
		rate: 0.06, buy: 0.35, views: 1.8, search: 0.40, cart: 0.15, lines: 0.5, qty: 0.20, price: 0, ret: 0.15, deal: 0.05,
		nfav:    [3]float64{0.4, 0.4, 0.2},
		cats:    [8]float64{2.5, 1, 1, 1, 1.5, 1, 3, 2},
		channel: [3]float64{0.45, 0.30, 0.25},
		uplift:  [4]float64{0.005, 0.14, 0.03, 0.01},
	},
	{
		name: "browser", share: 0.20,
		rate: 0.045, buy: 0.03, views: 2.8, search: 0.70, cart: 0.30, lines: 0.2, qty: 0.10, price: 0, ret: 0.20, deal: 0.05,
		nfav:    [3]float64{0.2, 0.4, 0.4},
		cats:    [8]float64{1.5, 2.5, 2.5, 1, 1, 0.5, 1, 3},
		channel: [3]float64{0.50, 0.40, 0.10},
		uplift:  [4]float64{0.025, 0.035, 0.095, 0.00},
	},
}

// atRiskBase is an at_risk user's chance of coming back unprompted within
// Window.
const atRiskBase = 0.03

// item is one catalog item.
type item struct {
	id       string
	cat      int
	title    string
	price    float64
	priceStr string
}

// category holds the vocabulary and price level of one category.
type category struct {
	adj    []string // first title word, usually a colour or shade
	attr   []string // second title word: material, property
	noun   []string // what it is
	query  []string // extra search words
	median float64  // median price
}

var vocab = [8]category{
	{ // shoes
		adj:    []string{"black", "white", "red", "tan", "navy", "grey", "beige", "olive"},
		attr:   []string{"leather", "suede", "canvas", "mesh", "knit", "patent"},
		noun:   []string{"ankle boot", "sneaker", "loafer", "sandal", "running shoe", "pump", "chelsea boot", "mule"},
		query:  []string{"boots", "sneakers", "trainers", "heels", "sandals", "waterproof", "wide fit", "flats"},
		median: 75,
	},
	{ // dresses
		adj:    []string{"black", "floral", "emerald", "ivory", "blush", "striped", "polka dot", "cobalt"},
		attr:   []string{"linen", "silk", "cotton", "satin", "jersey", "chiffon"},
		noun:   []string{"midi dress", "maxi dress", "wrap dress", "shirt dress", "slip dress", "mini dress", "sundress"},
		query:  []string{"dress", "wedding guest", "summer dress", "party dress", "evening", "long sleeve", "casual"},
		median: 65,
	},
	{ // bags
		adj:    []string{"black", "cognac", "cream", "burgundy", "camel", "khaki", "taupe"},
		attr:   []string{"leather", "canvas", "nylon", "vegan leather", "straw", "quilted"},
		noun:   []string{"tote bag", "crossbody bag", "backpack", "clutch", "shoulder bag", "belt bag", "weekender"},
		query:  []string{"handbag", "work bag", "travel bag", "small bag", "laptop bag", "purse"},
		median: 85,
	},
	{ // beauty
		adj:    []string{"nude", "rose", "coral", "berry", "clear", "peach", "golden"},
		attr:   []string{"hydrating", "matte", "vitamin c", "organic", "fragrance free", "long lasting"},
		noun:   []string{"face serum", "lipstick", "moisturizer", "mascara", "shampoo", "eye cream", "sunscreen", "foundation"},
		query:  []string{"skincare", "makeup", "spf", "anti aging", "dry skin", "gift set", "vegan"},
		median: 22,
	},
	{ // home
		adj:    []string{"sage", "white", "charcoal", "terracotta", "natural", "mustard", "blue"},
		attr:   []string{"ceramic", "oak", "linen", "velvet", "glass", "rattan"},
		noun:   []string{"table lamp", "cushion cover", "vase", "throw blanket", "mirror", "dinner set", "candle holder"},
		query:  []string{"home decor", "living room", "bedding", "kitchen", "gift", "scandinavian"},
		median: 45,
	},
	{ // kids
		adj:    []string{"yellow", "mint", "pink", "sky blue", "rainbow", "grey", "orange"},
		attr:   []string{"organic cotton", "fleece", "wooden", "plush", "recycled", "soft"},
		noun:   []string{"onesie", "pajama set", "toy car", "puzzle", "rain jacket", "kids sneaker", "teddy bear"},
		query:  []string{"baby", "toddler", "toys", "school", "kids clothes", "birthday gift"},
		median: 25,
	},
	{ // sports
		adj:    []string{"black", "neon", "navy", "teal", "grey", "purple", "lime"},
		attr:   []string{"breathable", "thermal", "waterproof", "lightweight", "seamless", "quick dry"},
		noun:   []string{"yoga mat", "running tights", "sports bra", "gym bag", "water bottle", "training jacket", "cycling gloves"},
		query:  []string{"gym", "running", "yoga", "fitness", "hiking", "workout"},
		median: 40,
	},
	{ // electronics
		adj:    []string{"black", "silver", "white", "graphite", "midnight", "space grey"},
		attr:   []string{"wireless", "noise cancelling", "smart", "portable", "4k", "fast charging"},
		noun:   []string{"headphones", "speaker", "smartwatch", "tablet", "charger", "camera", "earbuds", "monitor"},
		query:  []string{"bluetooth", "gadgets", "tech gift", "usb c", "gaming", "home office"},
		median: 140,
	},
}

var dealWords = []string{"sale", "discount", "cheap", "deal", "offer", "clearance"}

const (
	itemsPerCat = 240
	zipfS       = 1.05 // item popularity exponent within a category
	priceSigma  = 0.55 // log-sd of item prices around the category median
)

// gen holds what is shared by all users of one Config.
type gen struct {
	seed       uint64
	end, start int64 // unix seconds
	days       int
	catalog    *[8][itemsPerCat]item
	popCDF     [itemsPerCat]float64
	shareCDF   [len(personas)]float64
	src        rand.PCG
	r          *rand.Rand
	evs        []event
	viewed     []*item
}

func newGen(cfg Config) *gen {
	end := cfg.End
	if end.IsZero() {
		end = DefaultEnd
	}
	days := cfg.Days
	if days == 0 {
		days = DefaultDays
	}
	g := &gen{seed: uint64(cfg.Seed), end: end.Unix(), days: days}
	g.start = g.end - int64(days)*day
	if end.Nanosecond() != 0 {
		g.start++ // timestamps are whole seconds in [end-days, end]
	}
	g.r = rand.New(&g.src)
	acc := 0.0
	for i := range personas {
		acc += personas[i].share
		g.shareCDF[i] = acc
	}
	return g
}

// catalogs memoizes the item catalog of each seed: it is immutable once
// built, and rebuilding it (milliseconds) dominated PersonaOf, which
// generates the user's events and is called once per user by tests and
// benchmarks. Bounded: beyond maxCatalogs seeds, catalogs are rebuilt.
var catalogs sync.Map // uint64 seed -> *[8][itemsPerCat]item

const maxCatalogs = 64

var nCatalogs atomic.Int32

// buildCatalog fills the catalog (events need it) and the popularity CDF.
func (g *gen) buildCatalog() {
	sum := 0.0
	for k := range g.popCDF {
		sum += math.Pow(float64(k+1), -zipfS)
		g.popCDF[k] = sum
	}
	for k := range g.popCDF {
		g.popCDF[k] /= sum
	}
	if c, ok := catalogs.Load(g.seed); ok {
		g.catalog = c.(*[8][itemsPerCat]item)
		return
	}
	defer func() {
		if nCatalogs.Add(1) <= maxCatalogs {
			catalogs.Store(g.seed, g.catalog)
		}
	}()
	r := rand.New(rand.NewPCG(mix(g.seed, 0xca7a106), mix(g.seed, 0x1735)))
	g.catalog = new([8][itemsPerCat]item)
	for c := range g.catalog {
		v := &vocab[c]
		for k := range g.catalog[c] {
			it := &g.catalog[c][k]
			it.id = Categories[c] + "-" + pad4(k+1)
			it.cat = c
			it.title = v.adj[r.IntN(len(v.adj))] + " " + v.attr[r.IntN(len(v.attr))] + " " + v.noun[r.IntN(len(v.noun))]
			p := v.median * math.Exp(priceSigma*r.NormFloat64())
			// Shop prices end in .99 or .49.
			p = math.Floor(p) + 0.99
			if r.IntN(3) == 0 {
				p -= 0.5
			}
			it.price = p
			it.priceStr = strconv.FormatFloat(p, 'f', 2, 64)
		}
	}
}

func pad4(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// splitmix64 finaliser.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func mix(a, b uint64) uint64 { return splitmix(splitmix(a) ^ b) }

// Independent per-user streams.
const (
	streamProfile  = 1
	streamBehavior = 2
)

// seedUser reseeds g.r for stream s of user i.
func (g *gen) seedUser(i int, s uint64) {
	k := mix(g.seed, uint64(i))
	g.src.Seed(mix(k, s), mix(k, s+0x5bd1e995))
}

// profile is a user's hidden state.
type profile struct {
	persona     int
	activity    float64 // multiplier of the persona's visit rate
	favs        []int
	noise       [4]float64 // standard normal draws: the hidden part of each offer's effect
	base        float64
	since, stop int64 // active period, unix seconds
}

func (g *gen) profile(i int) profile {
	g.seedUser(i, streamProfile)
	r := g.r
	var pr profile
	u := r.Float64()
	pr.persona = len(personas) - 1
	for k, c := range g.shareCDF {
		if u < c {
			pr.persona = k
			break
		}
	}
	p := &personas[pr.persona]
	const actSigma = 0.5
	pr.activity = math.Exp(actSigma*r.NormFloat64() - actSigma*actSigma/2)

	n := 1 + pick(r, p.nfav[:])
	w := p.cats
	for range n {
		c := pick(r, w[:])
		pr.favs = append(pr.favs, c)
		w[c] = 0
	}

	switch p.name {
	case "at_risk":
		pr.base = atRiskBase
	default:
		pr.base = 1 - math.Exp(-28*p.rate*pr.activity*p.buy)
	}
	// The hidden part of the offer effects (see effects in history.go).
	// Drawn here, in this order, so that the events do not depend on the
	// effect model.
	for j := range pr.noise {
		pr.noise[j] = r.NormFloat64()
	}

	// Active period, in days before end.
	var from, to float64
	span := float64(g.days)
	switch p.name {
	case "new":
		from, to = 7+68*r.Float64(), 0
	case "at_risk":
		from, to = span, 60+70*r.Float64()
		if r.Float64() < 0.15 {
			from = span - 30*r.Float64()
		}
	default:
		from, to = span, 0
		if r.Float64() < 0.2 {
			from = span - max(0, span-90)*r.Float64()
		}
	}
	from, to = min(from, span), min(to, span)
	pr.since = max(g.start, g.end-int64(from*day))
	pr.stop = g.end - int64(to*day)
	if pr.stop-pr.since < day {
		pr.since = max(g.start, pr.stop-day)
		pr.stop = min(g.end, pr.since+day)
	}
	return pr
}

// pick draws an index with probability proportional to w.
func pick(r *rand.Rand, w []float64) int {
	s := 0.0
	for _, x := range w {
		s += x
	}
	u := r.Float64() * s
	for k, x := range w {
		if u < x {
			return k
		}
		u -= x
	}
	for k := len(w) - 1; k >= 0; k-- {
		if w[k] > 0 {
			return k
		}
	}
	return 0
}

// poisson draws a Poisson variate; normal approximation above mean 50.
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 50 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}

// event is one generated row.
type event struct {
	ts      int64
	typ     int
	item    *item // nil for searches
	text    string
	qty     int
	order   string
	channel int
}

// events generates user i's events in time order. The returned slice is
// reused by the next call.
func (g *gen) events(i int, pr *profile) []event {
	if g.catalog == nil {
		g.buildCatalog()
	}
	g.seedUser(i, streamBehavior)
	r := g.r
	p := &personas[pr.persona]
	g.evs = g.evs[:0]

	// Visits form a Poisson process over the active period.
	last := max(pr.since, pr.stop-6*3600)
	n := poisson(r, p.rate*pr.activity*float64(pr.stop-pr.since)/day)
	n = max(n, 1)
	starts := make([]int64, n)
	buys := make([]bool, n)
	anyBuy := false
	for k := range starts {
		starts[k] = g.diurnal(r, pr.since+r.Int64N(last-pr.since+1), pr.since, last)
		buys[k] = r.Float64() < p.buy
		anyBuy = anyBuy || buys[k]
	}
	slices.Sort(starts)
	if p.name == "at_risk" && !anyBuy {
		// They used to buy: that is what makes them at risk.
		buys[r.IntN(n)] = true
	}
	orders := 0
	uid := pad7(i)
	for k, t := range starts {
		ch := pick(r, p.channel[:])
		cat := g.sessionCat(r, pr)
		t += int64(r.IntN(60))
		if r.Float64() < p.search {
			for range 1 + r.IntN(2) {
				g.evs = append(g.evs, event{ts: t, typ: tSearch, text: g.query(r, p, cat), channel: ch})
				t += gap(r)
			}
		}
		g.viewed = g.viewed[:0]
		nv := 1 + poisson(r, p.views)
		for range nv {
			c := cat
			if r.Float64() < 0.1 {
				c = g.sessionCat(r, pr)
			}
			it := g.pickItem(r, p, c)
			g.evs = append(g.evs, event{ts: t, typ: tView, item: it, text: it.title, qty: 1, channel: ch})
			g.viewed = append(g.viewed, it)
			t += gap(r)
		}
		if !buys[k] {
			if r.Float64() < p.cart {
				it := g.viewed[r.IntN(len(g.viewed))]
				g.evs = append(g.evs, event{ts: t, typ: tCart, item: it, text: it.title, qty: 1, channel: ch})
			}
			continue
		}
		// An order: lines from what was viewed, more views if needed.
		nl := 1 + min(3, poisson(r, p.lines))
		lines := make([]*item, 0, nl)
		for _, it := range g.viewed {
			if len(lines) < nl && !slices.Contains(lines, it) {
				lines = append(lines, it)
			}
		}
		for tries := 0; len(lines) < nl && tries < 20; tries++ {
			it := g.pickItem(r, p, cat)
			if slices.Contains(lines, it) {
				continue
			}
			g.evs = append(g.evs, event{ts: t, typ: tView, item: it, text: it.title, qty: 1, channel: ch})
			lines = append(lines, it)
			t += gap(r)
		}
		qty := make([]int, len(lines))
		for j, it := range lines {
			qty[j] = 1
			if r.Float64() < p.qty {
				qty[j]++
				if r.Float64() < 0.25 {
					qty[j]++
				}
			}
			if r.Float64() < 0.85 {
				g.evs = append(g.evs, event{ts: t, typ: tCart, item: it, text: it.title, qty: qty[j], channel: ch})
				t += gap(r)
			}
		}
		orders++
		oid := "o" + uid + "-" + strconv.Itoa(orders)
		t += 30 + int64(r.IntN(240)) // checkout
		for j, it := range lines {
			g.evs = append(g.evs, event{ts: t, typ: tPurchase, item: it, text: it.title, qty: qty[j], order: oid, channel: ch})
		}
		for j, it := range lines {
			if r.Float64() >= p.ret {
				continue
			}
			rt := t + int64(2*day+r.IntN(23*day))
			if rt > g.end {
				continue
			}
			rch := 0
			if r.Float64() < 0.4 {
				rch = ch
			}
			g.evs = append(g.evs, event{ts: rt, typ: tReturn, item: it, text: it.title, qty: qty[j], order: oid, channel: rch})
		}
	}
	// Returns land after later visits; sessions may run past end.
	slices.SortStableFunc(g.evs, func(a, b event) int { return cmpInt(a.ts, b.ts) })
	k := len(g.evs)
	for k > 0 && g.evs[k-1].ts > g.end {
		k--
	}
	g.evs = g.evs[:k]
	return g.evs
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// hourWeights is the relative traffic of each UTC hour of the day.
var hourWeights = []float64{
	1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.5, 3.5,
	4, 4, 3.5, 3.5, 3.5, 4, 4.5, 5.5, 6, 5.5, 4, 2,
}

// diurnal moves t to a time of the same day drawn from hourWeights, unless
// that leaves [lo, hi].
func (g *gen) diurnal(r *rand.Rand, t, lo, hi int64) int64 {
	d := t - t%day + int64(pick(r, hourWeights)*3600+r.IntN(3600))
	if d < lo || d > hi {
		return t
	}
	return d
}

// gap is the time between two clicks of a visit, in seconds.
func gap(r *rand.Rand) int64 {
	return 5 + int64(min(600, 45*r.ExpFloat64()))
}

// sessionCat picks the category of a visit: mostly a favourite, the first
// favourite most.
func (g *gen) sessionCat(r *rand.Rand, pr *profile) int {
	if r.Float64() < 0.15 {
		return r.IntN(len(Categories))
	}
	u := r.Float64()
	switch len(pr.favs) {
	case 1:
		return pr.favs[0]
	case 2:
		if u < 0.65 {
			return pr.favs[0]
		}
		return pr.favs[1]
	default:
		if u < 0.5 {
			return pr.favs[0]
		}
		if u < 0.8 {
			return pr.favs[1]
		}
		return pr.favs[2]
	}
}

// pickItem draws an item of category c by popularity, tilted by the
// persona's price preference.
func (g *gen) pickItem(r *rand.Rand, p *persona, c int) *item {
	best := &g.catalog[c][g.rank(r)]
	for range abs(p.price) {
		it := &g.catalog[c][g.rank(r)]
		if (p.price > 0) == (it.price > best.price) {
			best = it
		}
	}
	return best
}

func (g *gen) rank(r *rand.Rand) int {
	k, _ := slices.BinarySearch(g.popCDF[:], r.Float64())
	return min(k, itemsPerCat-1)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// query builds a search query in category c.
func (g *gen) query(r *rand.Rand, p *persona, c int) string {
	v := &vocab[c]
	var q string
	switch r.IntN(4) {
	case 0:
		q = v.query[r.IntN(len(v.query))]
	case 1:
		q = v.attr[r.IntN(len(v.attr))] + " " + v.noun[r.IntN(len(v.noun))]
	case 2:
		q = v.adj[r.IntN(len(v.adj))] + " " + v.noun[r.IntN(len(v.noun))]
	default:
		q = v.noun[r.IntN(len(v.noun))]
	}
	if r.Float64() < p.deal {
		q = dealWords[r.IntN(len(dealWords))] + " " + q
	}
	return q
}
