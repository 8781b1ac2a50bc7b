package synth

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// HistoryConfig selects a campaign history to generate: one campaign sent
// at the end of the event history (Config.End) to every user, each user
// getting one of the Offers or nothing (control).
type HistoryConfig struct {
	Config          // the users and their events, as for Write
	Campaign string // campaign_id; empty means "c1"
	// Shares are the assignment probabilities of control and each offer,
	// in HistoryArms order; nil means uniform. Ignored when Targeted.
	Shares []float64
	// Targeted assigns non-uniformly, as a campaign that favoured recent
	// buyers would: users who bought in the last 30 days get control with
	// probability 0.4 and each offer with 0.15, the others 0.1 and 0.225.
	// The propensity column logs the probability of the arm received.
	Targeted bool
}

// HistoryArms are the arm values of the history: "control", then Offers.
var HistoryArms = append([]string{"control"}, Offers...)

// HistoryColumns are the columns WriteHistory writes. The first seven
// describe the campaign; the rest are what the shop knew of the user when
// it sent the campaign, computed from the user's events up to Config.End:
// recency_days is empty for users who never bought and avg_order_value for
// users without orders (missing values); main_category and main_channel
// are categorical.
var HistoryColumns = []string{
	"user_id", "campaign_id", "arm", "sent_at", "propensity", "responded", "revenue",
	"recency_days", "frequency", "monetary", "avg_order_value", "tenure_days", "days_since_visit", "active_days",
	"views", "avg_view_price", "searches", "deal_searches", "carts", "return_rate", "main_category", "main_channel",
}

// streamHistory is the per-user random stream of campaign histories.
const streamHistory = 3

// FirstBasket is the order value of a generated user's first order: the
// basket of users without past orders, in the campaign history and in the
// simulator's world.
const FirstBasket = 40.0

// WriteHistory writes a randomized campaign history as CSV with header
// HistoryColumns, one row per user. A user given arm a responds (buys
// within Window after End) with probability Persona.Base plus
// Persona.Uplift[a] (plus nothing for control): the planted, known effects.
// revenue is the value of that purchase: the user's average past order
// value (FirstBasket without orders) times a lognormal factor of mean 1; zero
// without a response. Output is deterministic for a given config and
// independent of how many users are generated; the event history of Write
// is not affected.
func WriteHistory(w io.Writer, cfg HistoryConfig) error {
	if cfg.Users < 0 {
		return fmt.Errorf("synth: Users = %d", cfg.Users)
	}
	shares, err := historyShares(cfg.Shares)
	if err != nil {
		return err
	}
	campaign := cfg.Campaign
	if campaign == "" {
		campaign = "c1"
	}
	g := newGen(cfg.Config)
	sent := time.Unix(g.end, 0).UTC().Format(time.RFC3339)
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := csv.NewWriter(bw)
	if err := cw.Write(HistoryColumns); err != nil {
		return err
	}
	var hr historyRNG
	for i := 1; i <= cfg.Users; i++ {
		pr := g.profile(i)
		base := pr.base
		cov := g.covariates(i, &pr)
		up := effects(&cov, base, pr.noise)
		r := hr.seed(g.seed, i)
		sh := shares
		if cfg.Targeted {
			sh = []float64{0.1, 0.225, 0.225, 0.225, 0.225}
			if cov.recency >= 0 && cov.recency <= 30 {
				sh = []float64{0.4, 0.15, 0.15, 0.15, 0.15}
			}
		}
		arm := pick(r, sh)
		p := base
		if arm > 0 {
			p += up[arm-1]
		}
		responded, revenue := 0, 0.0
		if r.Float64() < p {
			responded = 1
			basket := FirstBasket
			if cov.aov > 0 {
				basket = cov.aov
			}
			const s = 0.3
			revenue = math.Round(100*basket*math.Exp(s*r.NormFloat64()-s*s/2)) / 100
		}
		rec := []string{
			UserID(i), campaign, HistoryArms[arm], sent, fmtFloat(sh[arm]),
			strconv.Itoa(responded), fmtFloat(revenue),
		}
		rec = append(rec, cov.fields()...)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

func historyShares(s []float64) ([]float64, error) {
	n := len(HistoryArms)
	if s == nil {
		out := make([]float64, n)
		for i := range out {
			out[i] = 1 / float64(n)
		}
		return out, nil
	}
	if len(s) != n {
		return nil, fmt.Errorf("synth: %d shares, want %d (control and each offer)", len(s), n)
	}
	var sum float64
	for _, v := range s {
		if !(v > 0) {
			return nil, fmt.Errorf("synth: shares %v: want every share > 0", s)
		}
		sum += v
	}
	if math.Abs(sum-1) > 1e-9 {
		return nil, fmt.Errorf("synth: shares %v sum to %v, want 1", s, sum)
	}
	return s, nil
}

// historyRNG is a reusable per-user generator for the history stream.
type historyRNG struct {
	src rand.PCG
	r   *rand.Rand
}

func (h *historyRNG) seed(seed uint64, i int) *rand.Rand {
	if h.r == nil {
		h.r = rand.New(&h.src)
	}
	k := mix(seed, uint64(i))
	h.src.Seed(mix(k, streamHistory), mix(k, streamHistory+0x5bd1e995))
	return h.r
}

// covariates are what the shop knows of a user at the end of history.
type covariates struct {
	recency                        float64 // days; -1 without a purchase
	frequency                      int
	monetary, aov, tenure          float64
	views, searches, deals, carts  int
	returnRate, viewPrice          float64
	sinceVisit                     float64
	activeDays                     int
	mainCategory, mainChannel      string
	boughtLines, returnedLines     int
	returnedValue, purchasedValues float64
}

// covariates computes user i's covariates from the events Write generates
// for them.
func (g *gen) covariates(i int, pr *profile) covariates {
	evs := g.events(i, pr)
	c := covariates{recency: -1}
	var catCount [8]int
	var chCount [3]int
	orders := map[string]bool{}
	var first, lastBuy, last int64 = -1, -1, -1
	days := map[int64]bool{}
	for k := range evs {
		e := &evs[k]
		if first < 0 || e.ts < first {
			first = e.ts
		}
		last = max(last, e.ts)
		days[e.ts/day] = true
		if e.item != nil {
			catCount[e.item.cat]++
		}
		chCount[e.channel]++
		switch e.typ {
		case tView:
			c.views++
			c.viewPrice += e.item.price
		case tSearch:
			c.searches++
			for _, w := range dealWords {
				if strings.HasPrefix(e.text, w+" ") {
					c.deals++
					break
				}
			}
		case tCart:
			c.carts++
		case tPurchase:
			orders[e.order] = true
			c.purchasedValues += float64(e.qty) * e.item.price
			c.boughtLines++
			lastBuy = max(lastBuy, e.ts)
		case tReturn:
			c.returnedValue += float64(e.qty) * e.item.price
			c.returnedLines++
		}
	}
	c.frequency = len(orders)
	c.monetary = math.Max(0, c.purchasedValues-c.returnedValue)
	if c.frequency > 0 {
		c.aov = c.monetary / float64(c.frequency)
	}
	if lastBuy >= 0 {
		c.recency = float64(g.end-lastBuy) / day
	}
	if first >= 0 {
		c.tenure = float64(g.end-first) / day
		c.sinceVisit = float64(g.end-last) / day
	}
	c.activeDays = len(days)
	if c.views > 0 {
		c.viewPrice /= float64(c.views)
	}
	if c.boughtLines > 0 {
		c.returnRate = math.Min(1, float64(c.returnedLines)/float64(c.boughtLines))
	}
	c.mainCategory = Categories[argmaxInt(catCount[:])]
	c.mainChannel = Channels[argmaxInt(chCount[:])]
	return c
}

// fields formats the covariates in HistoryColumns order.
func (c *covariates) fields() []string {
	recency, aov := "", ""
	if c.recency >= 0 {
		recency = fmtFloat(math.Round(c.recency*10) / 10)
	}
	if c.frequency > 0 {
		aov = fmtFloat(math.Round(c.aov*100) / 100)
	}
	return []string{
		recency, strconv.Itoa(c.frequency), fmtFloat(math.Round(c.monetary*100) / 100), aov,
		fmtFloat(math.Round(c.tenure*10) / 10), fmtFloat(math.Round(c.sinceVisit*10) / 10), strconv.Itoa(c.activeDays), strconv.Itoa(c.views), fmtFloat(math.Round(c.viewPrice*100) / 100), strconv.Itoa(c.searches),
		strconv.Itoa(c.deals), strconv.Itoa(c.carts), fmtFloat(math.Round(c.returnRate*1000) / 1000),
		c.mainCategory, c.mainChannel,
	}
}

func argmaxInt(v []int) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// The effect model. A user's response to an offer is driven by what they
// do, as a shop would see it in their history: the covariates that
// WriteHistory writes. Six drivers in [0, 1] summarise them, and each
// offer's effect (additive change in the probability of buying within
// Window) is a nonlinear function of the drivers, the main category and
// the main channel, plus a small hidden per-user term:
//
//	deal   = 1 - exp(-deal_searches/1.5)                    searches for sales
//	cheap  = clamp((100 - avg_view_price)/60, 0, 1)         looks at cheap items
//	lapse  = clamp((recency-30)/30) clamp((180-recency)/40) bought, then went quiet (0 without a purchase)
//	fresh  = clamp((100 - tenure_days)/60, 0, 1)            new customer
//	hesit  = (1 - exp(-(carts + views/10)/3)) exp(-frequency/1.5)   looks and carts, rarely buys
//	loyal  = (1 - exp(-frequency/3)) (1 if recency < 45 else 0.3)   buys often and recently
//
//	discount10    = 0.20 deal (0.5 + 0.5 cheap) + 0.08 fresh cheap - 0.08 loyal (1-deal) cheap
//	coupon5       = 0.15 lapse e + 0.10 deal e' + 0.04 fresh,  e = 1.3, e' = 1.4 for email users (else 1, 0.8)
//	free_shipping = 0.14 hesit b + 0.04 fresh,                 b = 1.3 for electronics, home and bags (else 0.8)
//	points2x      = 0.10 loyal m - 0.02 deal,                  m = 1.25 for app users (else 0.8)
//
// plus effectNoise times a standard normal draw per user and offer, then
// clipped to [-Base/2, 1-Base]. The personas' mean effects (MeanUplift)
// follow from their behaviour.

// effectNoise is the standard deviation of the hidden part of an effect:
// what no covariate explains.
const effectNoise = 0.01

// drivers are the behavioural drivers of offer response, each in [0, 1].
type drivers struct {
	deal, cheap, lapse, fresh, hesit, loyal float64
}

func clamp01(x float64) float64 { return min(max(x, 0), 1) }

func (c *covariates) drivers() drivers {
	var d drivers
	d.deal = 1 - math.Exp(-float64(c.deals)/1.5)
	if c.views > 0 {
		d.cheap = clamp01((100 - c.viewPrice) / 60)
	}
	if c.recency >= 0 {
		d.lapse = clamp01((c.recency-30)/30) * clamp01((180-c.recency)/40)
		d.loyal = 1 - math.Exp(-float64(c.frequency)/3)
		if c.recency >= 45 {
			d.loyal *= 0.3
		}
	}
	d.fresh = clamp01((100 - c.tenure) / 60)
	d.hesit = (1 - math.Exp(-(float64(c.carts)+float64(c.views)/10)/3)) * math.Exp(-float64(c.frequency)/1.5)
	return d
}

// effects returns the true effect of each of Offers for a user with
// covariates c, base rate base and hidden draws z: the model above.
func effects(c *covariates, base float64, z [4]float64) [4]float64 {
	d := c.drivers()
	email, app := c.mainChannel == "email", c.mainChannel == "app"
	e := [4]float64{
		0.20*d.deal*(0.5+0.5*d.cheap) + 0.08*d.fresh*d.cheap - 0.08*d.loyal*(1-d.deal)*d.cheap,
		0.15*d.lapse*pickF(email, 1.3, 1) + 0.10*d.deal*pickF(email, 1.4, 0.8) + 0.04*d.fresh,
		0.14*d.hesit*pickF(c.mainCategory == "electronics" || c.mainCategory == "home" || c.mainCategory == "bags", 1.3, 0.8) + 0.04*d.fresh,
		0.10*d.loyal*pickF(app, 1.25, 0.8) - 0.02*d.deal,
	}
	for j := range e {
		// An offer can put a user off, but not entirely.
		e[j] = min(max(e[j]+effectNoise*z[j], -base/2), 1-base)
	}
	return e
}

func pickF(cond bool, a, b float64) float64 {
	if cond {
		return a
	}
	return b
}
