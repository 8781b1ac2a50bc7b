package synth

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/canon"
)

func generate(t testing.TB, cfg Config) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Write(&buf, cfg)
	if err != nil {
		t.Fatalf("Write(%+v): %v", cfg, err)
	}
	return buf.Bytes(), st
}

func TestDeterministic(t *testing.T) {
	base := Config{Users: 2000, Seed: 42}
	want := sha256.Sum256(must(generate(t, base)))
	for _, tc := range []struct {
		name string
		cfg  Config
		same bool
	}{
		{"same seed", base, true},
		{"explicit defaults", Config{Users: 2000, Seed: 42, End: DefaultEnd, Days: DefaultDays}, true},
		{"other seed", Config{Users: 2000, Seed: 43}, false},
		{"other end", Config{Users: 2000, Seed: 42, End: DefaultEnd.Add(24 * time.Hour)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sha256.Sum256(must(generate(t, tc.cfg)))
			if (got == want) != tc.same {
				t.Errorf("sha256 equal = %v, want %v", got == want, tc.same)
			}
		})
	}
}

// TestPrefixStable checks that a user's events do not depend on how many
// users are generated.
func TestPrefixStable(t *testing.T) {
	small, _ := generate(t, Config{Users: 300, Seed: 5})
	large, _ := generate(t, Config{Users: 600, Seed: 5})
	if !bytes.HasPrefix(large, small) {
		t.Error("300-user output is not a prefix of the 600-user output")
	}
	if len(large) <= len(small) {
		t.Errorf("600 users: %d bytes, 300 users: %d", len(large), len(small))
	}
}

func must(b []byte, _ Stats) []byte { return b }

var (
	userRE = regexp.MustCompile(`^u[0-9]{7}$`)
	itemRE = regexp.MustCompile(`^([a-z]+)-[0-9]{4}$`)
)

type line struct {
	ts      time.Time
	typ     string
	item    string
	cat     string
	text    string
	qty     int64
	price   float64
	order   string
	channel string
}

// parse reads and validates canonical event CSV written for cfg, returning
// the lines of each user, indexed by user number.
func parse(t testing.TB, data []byte, cfg Config, st Stats) [][]line {
	t.Helper()
	end := cfg.End
	if end.IsZero() {
		end = DefaultEnd
	}
	days := cfg.Days
	if days == 0 {
		days = DefaultDays
	}
	start := end.AddDate(0, 0, -days)
	r := csv.NewReader(bytes.NewReader(data))
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(head, canon.EventColumns) {
		t.Fatalf("header %q, want %q", head, canon.EventColumns)
	}
	users := make([][]line, cfg.Users+1)
	byType := map[string]int64{}
	var rows int64
	errs := 0
	fail := func(row int64, rec []string, format string, args ...any) {
		errs++
		if errs <= 10 {
			t.Errorf("row %d %q: "+format, append([]any{row, rec}, args...)...)
		}
	}
	cur := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows++
		if !userRE.MatchString(rec[0]) {
			fail(rows, rec, "bad user id")
			continue
		}
		u, _ := strconv.Atoi(rec[0][1:])
		if u != cur && u != cur+1 || u > cfg.Users {
			fail(rows, rec, "user %d after user %d", u, cur)
			continue
		}
		cur = u
		var l line
		l.ts, err = time.Parse(time.RFC3339, rec[1])
		if err != nil || l.ts.UTC().Format("2006-01-02T15:04:05Z") != rec[1] {
			fail(rows, rec, "bad ts")
		}
		if l.ts.Before(start) || l.ts.After(end) {
			fail(rows, rec, "ts outside [%v, %v]", start, end)
		}
		if n := len(users[u]); n > 0 && l.ts.Before(users[u][n-1].ts) {
			fail(rows, rec, "ts before previous event of the user")
		}
		l.typ, l.item, l.cat, l.text, l.order, l.channel = rec[2], rec[3], rec[4], rec[5], rec[8], rec[9]
		if !canon.ValidType(l.typ) {
			fail(rows, rec, "bad type")
		}
		byType[l.typ]++
		if l.qty, err = strconv.ParseInt(rec[6], 10, 64); err != nil {
			fail(rows, rec, "bad quantity")
		}
		if l.price, err = strconv.ParseFloat(rec[7], 64); err != nil {
			fail(rows, rec, "bad price")
		}
		if !slices.Contains(Channels, l.channel) {
			fail(rows, rec, "bad channel")
		}
		if l.text == "" || strings.Contains(l.text, ",") {
			fail(rows, rec, "bad text")
		}
		ordered := l.typ == canon.Purchase || l.typ == canon.Return
		if (l.order != "") != ordered {
			fail(rows, rec, "order id %q on a %s", l.order, l.typ)
		}
		if l.typ == canon.Search {
			if l.item != "" || l.cat != "" || l.qty != 0 || l.price != 0 {
				fail(rows, rec, "search with item fields")
			}
		} else {
			m := itemRE.FindStringSubmatch(l.item)
			if m == nil || m[1] != l.cat || !slices.Contains(Categories, l.cat) {
				fail(rows, rec, "bad item or category")
			}
			if l.qty < 1 || l.qty > 3 {
				fail(rows, rec, "quantity %d", l.qty)
			}
			if l.price <= 0 || math.IsInf(l.price, 0) {
				fail(rows, rec, "price %v", l.price)
			}
		}
		users[u] = append(users[u], l)
	}
	if cur != cfg.Users {
		t.Errorf("last user %d, want %d", cur, cfg.Users)
	}
	for u := 1; u <= cfg.Users; u++ {
		if len(users[u]) == 0 {
			t.Errorf("user %d has no events", u)
		}
	}
	if st.Events != rows {
		t.Errorf("Stats.Events = %d, %d rows", st.Events, rows)
	}
	if st.Users != cfg.Users {
		t.Errorf("Stats.Users = %d, want %d", st.Users, cfg.Users)
	}
	var sum int64
	for typ, n := range st.ByType {
		sum += n
		if byType[typ] != n {
			t.Errorf("Stats.ByType[%s] = %d, %d rows", typ, n, byType[typ])
		}
	}
	if sum != rows {
		t.Errorf("Stats.ByType sums to %d, %d rows", sum, rows)
	}
	return users
}

func TestWellFormed(t *testing.T) {
	for _, cfg := range []Config{
		{Users: 1500, Seed: 1},
		{Users: 400, Seed: 9, End: time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC), Days: 365},
		{Users: 200, Seed: -3, Days: 20}, // shorter than any persona's phases
		{Users: 300, Seed: 4, End: time.Date(2026, 1, 1, 0, 0, 0, 999999999, time.FixedZone("x", 3600)), Days: 90},
		{Users: 1, Seed: 2},
		{Users: 0, Seed: 2},
	} {
		data, st := generate(t, cfg)
		users := parse(t, data, cfg, st)
		nPersona := 0
		for _, n := range st.ByPersona {
			nPersona += n
		}
		if nPersona != cfg.Users {
			t.Errorf("%+v: ByPersona sums to %d", cfg, nPersona)
		}
		checkOrders(t, users)
	}
}

// checkOrders checks orders, carts and returns of every user.
func checkOrders(t *testing.T, users [][]line) {
	t.Helper()
	var lines, carted, carts, abandoned int
	for u, ls := range users {
		orders := map[string][]line{}
		for i, l := range ls {
			switch l.typ {
			case canon.Purchase:
				orders[l.order] = append(orders[l.order], l)
				lines++
				for j := i - 1; j >= 0 && l.ts.Sub(ls[j].ts) < time.Hour; j-- {
					if ls[j].typ == canon.Cart && ls[j].item == l.item {
						carted++
						break
					}
				}
			case canon.Cart:
				carts++
				bought := false
				for j := i + 1; j < len(ls) && ls[j].ts.Sub(l.ts) < time.Hour; j++ {
					bought = bought || ls[j].typ == canon.Purchase && ls[j].item == l.item
				}
				if !bought {
					abandoned++
				}
			case canon.Return:
				o := orders[l.order]
				k := slices.IndexFunc(o, func(p line) bool { return p.item == l.item })
				if k < 0 {
					t.Errorf("user %d: return of %s in %s, not bought", u, l.item, l.order)
				} else if o[k].qty != l.qty || o[k].price != l.price || l.ts.Sub(o[k].ts) < 48*time.Hour {
					t.Errorf("user %d: return %+v of purchase %+v", u, l, o[k])
				}
			}
		}
		for id, o := range orders {
			if !strings.HasPrefix(id, "o"+UserID(u)[1:]+"-") {
				t.Errorf("user %d: order id %q", u, id)
			}
			if len(o) > 4 {
				t.Errorf("user %d: order %s has %d lines", u, id, len(o))
			}
			for _, l := range o {
				if !l.ts.Equal(o[0].ts) || l.channel != o[0].channel {
					t.Errorf("user %d: order %s lines differ in time or channel", u, id)
				}
			}
		}
	}
	if lines > 100 {
		if f := float64(carted) / float64(lines); f < 0.7 || f > 0.95 {
			t.Errorf("%.2f of purchase lines carted first, want about 0.85", f)
		}
		if f := float64(abandoned) / float64(carts); f < 0.1 || f > 0.6 {
			t.Errorf("%.2f of carts abandoned", f)
		}
	}
}

var planted struct {
	once  sync.Once
	cfg   Config
	st    Stats
	users [][]line
	pers  []Persona
}

// plantedData generates and parses 10,000 users once.
func plantedData(t *testing.T) (Config, Stats, [][]line, []Persona) {
	p := &planted
	p.once.Do(func() {
		p.cfg = Config{Users: 10000, Seed: 20261123}
		var data []byte
		data, p.st = generate(t, p.cfg)
		p.users = parse(t, data, p.cfg, p.st)
		p.pers = make([]Persona, p.cfg.Users+1)
		tr := NewTruth(p.cfg)
		for u := 1; u <= p.cfg.Users; u++ {
			p.pers[u] = tr.Persona(UserID(u))
		}
	})
	if p.users == nil {
		t.Fatal("generation failed")
	}
	return p.cfg, p.st, p.users, p.pers
}

func TestPersonaShares(t *testing.T) {
	cfg, st, _, pers := plantedData(t)
	counts := map[string]int{}
	for _, p := range pers[1:] {
		counts[p.Name]++
	}
	shares := Shares()
	total := 0.0
	for _, name := range Personas {
		share, ok := shares[name]
		if !ok {
			t.Errorf("no share for %s", name)
		}
		total += share
		if st.ByPersona[name] != counts[name] {
			t.Errorf("Stats.ByPersona[%s] = %d, PersonaOf gives %d", name, st.ByPersona[name], counts[name])
		}
		if got := float64(counts[name]) / float64(cfg.Users); math.Abs(got-share) > 0.015 {
			t.Errorf("share of %s = %.3f, want %.3f ± 0.015", name, got, share)
		}
	}
	if len(counts) != len(Personas) || math.Abs(total-1) > 1e-9 {
		t.Errorf("personas %v, shares sum to %v", counts, total)
	}
}

// personaStats aggregates behaviour per persona.
type personaStats struct {
	users, orders, lines, returns, views, searches, dealSearches int
	value, unitPrice                                             float64
	ordersBefore, ordersAfter                                    int // orders before and after end-28d
	viewsBefore, viewsAfter                                      int
	labelled                                                     int     // users with an order after end-28d
	firstEventAge                                                float64 // days, summed over users
	favShare, otherFavShare                                      float64
	base                                                         float64
}

func aggregate(users [][]line, pers []Persona) map[string]*personaStats {
	end := DefaultEnd
	cut := end.Add(-Window)
	out := map[string]*personaStats{}
	for u := 1; u < len(users); u++ {
		p := pers[u]
		s := out[p.Name]
		if s == nil {
			s = &personaStats{}
			out[p.Name] = s
		}
		s.users++
		s.base += p.Base
		ls := users[u]
		s.firstEventAge += end.Sub(ls[0].ts).Hours() / 24
		seen := map[string]bool{}
		labelled := false
		var items, fav, otherFav int
		other := pers[u%(len(users)-1)+1].Categories
		for _, l := range ls {
			if l.typ != canon.Search {
				items++
				if slices.Contains(p.Categories, l.cat) {
					fav++
				}
				if slices.Contains(other, l.cat) {
					otherFav++
				}
			}
			switch l.typ {
			case canon.View:
				s.views++
				if l.ts.After(cut) {
					s.viewsAfter++
				} else {
					s.viewsBefore++
				}
			case canon.Search:
				s.searches++
				for _, w := range dealWords {
					if strings.HasPrefix(l.text, w+" ") {
						s.dealSearches++
					}
				}
			case canon.Return:
				s.returns++
			case canon.Purchase:
				s.lines++
				s.value += l.price * float64(l.qty)
				s.unitPrice += l.price
				if seen[l.order] {
					continue
				}
				seen[l.order] = true
				s.orders++
				if l.ts.After(cut) {
					s.ordersAfter++
					labelled = true
				} else {
					s.ordersBefore++
				}
			}
		}
		if labelled {
			s.labelled++
		}
		s.favShare += float64(fav) / float64(max(items, 1))
		s.otherFavShare += float64(otherFav) / float64(max(items, 1))
	}
	return out
}

func TestPlantedStructure(t *testing.T) {
	cfg, st, users, pers := plantedData(t)
	agg := aggregate(users, pers)
	perUser := func(name string, f func(*personaStats) int) float64 {
		s := agg[name]
		return float64(f(s)) / float64(s.users)
	}
	orders := func(s *personaStats) int { return s.orders }
	views := func(s *personaStats) int { return s.views }
	avgOrder := func(name string) float64 { return agg[name].value / float64(agg[name].orders) }
	unitPrice := func(name string) float64 { return agg[name].unitPrice / float64(agg[name].lines) }
	returnRate := func(name string) float64 { return float64(agg[name].returns) / float64(agg[name].lines) }
	dealRate := func(name string) float64 { return float64(agg[name].dealSearches) / float64(agg[name].searches) }
	labelRate := func(name string) float64 { return float64(agg[name].labelled) / float64(agg[name].users) }

	for _, tc := range []struct {
		what     string
		got, min float64 // want got > min
	}{
		{"champion orders / browser orders", perUser("champion", orders) / perUser("browser", orders), 3},
		{"champion orders / loyal orders", perUser("champion", orders) / perUser("loyal", orders), 1.5},
		{"loyal orders / new orders", perUser("loyal", orders) / perUser("new", orders), 2},
		{"champion order value / loyal order value", avgOrder("champion") / avgOrder("loyal"), 1.5},
		{"loyal unit price / bargain_hunter unit price", unitPrice("loyal") / unitPrice("bargain_hunter"), 1.5},
		{"browser views per order / loyal views per order",
			(perUser("browser", views) / perUser("browser", orders)) / (perUser("loyal", views) / perUser("loyal", orders)), 5},
		{"at_risk return rate / loyal return rate", returnRate("at_risk") / returnRate("loyal"), 2},
		{"bargain_hunter deal queries / loyal deal queries", dealRate("bargain_hunter") / math.Max(dealRate("loyal"), 0.01), 10},
		{"bargain_hunter deal query share", dealRate("bargain_hunter"), 0.3},
		{"champion tenure / new tenure",
			(agg["champion"].firstEventAge / float64(agg["champion"].users)) / (agg["new"].firstEventAge / float64(agg["new"].users)), 2.5},
		{"champion label rate / browser label rate", labelRate("champion") / labelRate("browser"), 5},
	} {
		if !(tc.got > tc.min) {
			t.Errorf("%s = %.3f, want > %.3f", tc.what, tc.got, tc.min)
		}
	}

	// at_risk users bought but stopped at least 60 days before end; new
	// users started within the last 75 days.
	for u := 1; u <= cfg.Users; u++ {
		var last, first time.Time
		bought := false
		for _, l := range users[u] {
			if l.typ == canon.Purchase {
				bought = true
				last = l.ts
			}
		}
		first = users[u][0].ts
		switch pers[u].Name {
		case "at_risk":
			if !bought {
				t.Errorf("at_risk user %d never bought", u)
			} else if DefaultEnd.Sub(last) < 45*24*time.Hour {
				t.Errorf("at_risk user %d bought at %v", u, last)
			}
		case "new":
			if DefaultEnd.Sub(first) > 76*24*time.Hour {
				t.Errorf("new user %d active since %v", u, first)
			}
		}
	}

	for _, name := range Personas {
		s := agg[name]
		n := float64(s.users)
		// Activity concentrates in the user's favourite categories.
		if own, other := s.favShare/n, s.otherFavShare/n; own < 0.75 || own < 2*other {
			t.Errorf("%s: %.2f of item events in own favourites, %.2f in another user's", name, own, other)
		}
		if name == "at_risk" || name == "new" {
			continue
		}
		// Stationary personas buy at the same rate before and after the
		// label cut, and Base predicts the label.
		days := float64(DefaultDays)
		rates := []struct {
			what          string
			before, after int
		}{{"view", s.viewsBefore, s.viewsAfter}}
		if name != "browser" { // too few orders to compare
			rates = append(rates, struct {
				what          string
				before, after int
			}{"order", s.ordersBefore, s.ordersAfter})
		}
		for _, rt := range rates {
			r := (float64(rt.after) / 28) / (float64(rt.before) / (days - 28))
			if r < 0.8 || r > 1.25 {
				t.Errorf("%s: %s rate after/before the label cut = %.2f", name, rt.what, r)
			}
		}
		if d := labelRate(name) - s.base/n; math.Abs(d) > 0.04 {
			t.Errorf("%s: label rate %.3f, mean Base %.3f", name, labelRate(name), s.base/n)
		}
	}
	if s := agg["at_risk"]; s.ordersAfter != 0 || math.Abs(s.base/float64(s.users)-atRiskBase) > 1e-9 {
		t.Errorf("at_risk: %d orders in the label window, mean Base %v", s.ordersAfter, s.base/float64(s.users))
	}

	// Earlier purchases predict the label.
	var with, withL, without, withoutL int
	for u := 1; u <= cfg.Users; u++ {
		before, after := map[string]bool{}, false
		for _, l := range users[u] {
			if l.typ == canon.Purchase {
				if l.ts.After(DefaultEnd.Add(-Window)) {
					after = true
				} else {
					before[l.order] = true
				}
			}
		}
		switch {
		case len(before) >= 2:
			with++
			if after {
				withL++
			}
		case len(before) == 0:
			without++
			if after {
				withoutL++
			}
		}
	}
	if pw, pwo := float64(withL)/float64(with), float64(withoutL)/float64(without); pw < 2*pwo {
		t.Errorf("label rate %.3f with >= 2 earlier orders, %.3f with none", pw, pwo)
	}

	if per := float64(st.Events) / float64(st.Users); per < 25 || per > 40 {
		t.Errorf("%.1f events per user, want 25 to 40", per)
	}
}

func TestUplift(t *testing.T) {
	_, _, _, pers := plantedData(t)
	sum := map[string]map[string]float64{}
	n := map[string]int{}
	for u, p := range pers[1:] {
		if len(p.Uplift) != len(Offers) {
			t.Fatalf("user %d: uplift %v", u+1, p.Uplift)
		}
		if sum[p.Name] == nil {
			sum[p.Name] = map[string]float64{}
		}
		n[p.Name]++
		for o, x := range p.Uplift {
			sum[p.Name][o] += x
			if p.Base < 0 || p.Base > 1 || x < -p.Base/2 || p.Base+x > 1 {
				t.Fatalf("user %d: base %v, uplift %v for %s", u+1, p.Base, x, o)
			}
		}
	}
	mean := func(p, o string) float64 { return sum[p][o] / float64(n[p]) }
	for _, p := range Personas {
		for o, m := range MeanUplift(p) {
			if got := mean(p, o); math.Abs(got-m) > 0.01 {
				t.Errorf("mean uplift of %s for %s = %.3f, configured %.3f", p, o, got, m)
			}
		}
	}
	for _, tc := range []struct {
		what     string
		got, min float64
	}{
		{"bargain_hunter discount10", mean("bargain_hunter", "discount10"), 0.12},
		{"bargain_hunter coupon5", mean("bargain_hunter", "coupon5"), 0.1},
		{"at_risk coupon5 - discount10", mean("at_risk", "coupon5") - mean("at_risk", "discount10"), 0.04},
		{"champion points2x - discount10", mean("champion", "points2x") - mean("champion", "discount10"), 0.05},
		{"browser free_shipping - coupon5", mean("browser", "free_shipping") - mean("browser", "coupon5"), 0.05},
		{"-(loyal discount10)", -mean("loyal", "discount10"), 0.01},
		{"-|champion discount10|", -math.Abs(mean("champion", "discount10")), -0.01},
	} {
		if !(tc.got > tc.min) {
			t.Errorf("%s = %.3f, want > %.3f", tc.what, tc.got, tc.min)
		}
	}
	if MeanUplift("nobody") != nil {
		t.Error("MeanUplift of an unknown persona is not nil")
	}
}

func TestPersonaOf(t *testing.T) {
	cfg := Config{Users: 10, Seed: 3}
	p := PersonaOf(cfg, UserID(7))
	if !slices.Contains(Personas, p.Name) || len(p.Categories) < 1 || len(p.Categories) > 3 {
		t.Errorf("PersonaOf(u0000007) = %+v", p)
	}
	for _, c := range p.Categories {
		if !slices.Contains(Categories, c) {
			t.Errorf("category %q", c)
		}
	}
	// A Truth gives the same answers, effects included.
	tr := NewTruth(cfg)
	for u := 1; u <= 20; u++ {
		if a, b := PersonaOf(cfg, UserID(u)), tr.Persona(UserID(u)); !reflect.DeepEqual(a, b) {
			t.Errorf("user %d: PersonaOf %+v, Truth %+v", u, a, b)
		}
	}
	// Independent of Users, and of other calls.
	q := PersonaOf(Config{Users: 1, Seed: 3}, UserID(7))
	if q.Name != p.Name || q.Base != p.Base || !slices.Equal(q.Categories, p.Categories) {
		t.Errorf("PersonaOf depends on Users: %+v vs %+v", p, q)
	}
	// Different seeds give different personas somewhere.
	differ := 0
	for u := 1; u <= 50; u++ {
		if PersonaOf(cfg, UserID(u)).Name != PersonaOf(Config{Seed: 4}, UserID(u)).Name {
			differ++
		}
	}
	if differ < 10 {
		t.Errorf("only %d of 50 personas change with the seed", differ)
	}
	for _, id := range []string{"", "u", "u000001", "u00000001", "x0000001", "u000000a", "u0000000", "u-000001", "U0000001"} {
		if p := PersonaOf(cfg, id); p.Name != "" || p.Uplift != nil {
			t.Errorf("PersonaOf(%q) = %+v, want zero", id, p)
		}
	}
}

func TestUserID(t *testing.T) {
	for _, tc := range []struct {
		i    int
		want string
	}{{1, "u0000001"}, {42, "u0000042"}, {1234567, "u1234567"}, {9999999, "u9999999"}, {12345678, "u12345678"}} {
		if got := UserID(tc.i); got != tc.want {
			t.Errorf("UserID(%d) = %q, want %q", tc.i, got, tc.want)
		}
		if got := userIndex(tc.want); got != tc.i {
			t.Errorf("userIndex(%q) = %d, want %d", tc.want, got, tc.i)
		}
	}
}

func TestWriteFile(t *testing.T) {
	cfg := Config{Users: 300, Seed: 11}
	want, wantSt := generate(t, cfg)
	dir := t.TempDir()
	for _, name := range []string{"a/b/events.csv.gz", "c/events.csv", "events.csv.gz"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			st, err := WriteFile(path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Events != wantSt.Events || st.Users != wantSt.Users {
				t.Errorf("stats %+v, want %+v", st, wantSt)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(name, ".gz") {
				zr, err := gzip.NewReader(bytes.NewReader(got))
				if err != nil {
					t.Fatal(err)
				}
				if got, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("content differs from Write: %d bytes, want %d", len(got), len(want))
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
			if len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
	// A parent that is a file cannot be created.
	if _, err := WriteFile(filepath.Join(dir, "c", "events.csv", "x.csv"), cfg); err == nil {
		t.Error("WriteFile under a file: no error")
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    io.Writer
		cfg  Config
	}{
		{"negative users", io.Discard, Config{Users: -1}},
		{"negative days", io.Discard, Config{Users: 1, Days: -1}},
		{"failing writer", &failWriter{n: 100000}, Config{Users: 500}},
	} {
		if _, err := Write(tc.w, tc.cfg); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	const users = 2000
	var events int64
	for b.Loop() {
		st, err := Write(io.Discard, Config{Users: users, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		events = st.Events
	}
	b.ReportMetric(float64(users*b.N)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(events)/users, "events/user")
}
