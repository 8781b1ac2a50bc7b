// Command recommend-eval measures promoflow's recommendations on Online
// Retail against two anchors it implements itself: global popularity and
// item-to-item co-purchase cosine kNN.
//
//	go run ./scripts/recommend-eval --cutoff 2011-09-10 --horizon-days 90
//	make eval-recommend
//
// Invoice lines are read as deploy/datasets/online-retail.yaml maps them
// (non-product stock codes and stock adjustments skipped, cancellations
// are returns, not purchases; lines without a customer are left out).
// For every customer who bought before the cutoff, the targets are the
// products they buy in the horizon that they had not bought before; each
// method ranks 10 products the customer had not bought, from the events
// before the cutoff only. recall@K is the share of a customer's targets
// among the K, averaged over customers with at least one target; hit@K is
// the share of those customers with at least one target among the K.
// Prints one JSON line per method. promoflow's lists come from
// internal/recommend, the package the Recommend activity runs, with the
// configuration given by the flags (defaults: recommend.DefaultConfig).
package main

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promoflow/promoflow/internal/recommend"
)

// notProducts are the stock codes the mapping skips.
var notProducts = map[string]bool{"POST": true, "DOT": true, "C2": true, "M": true, "D": true, "S": true,
	"B": true, "BANK CHARGES": true, "AMAZONFEE": true, "CRUK": true, "PADS": true}

type line struct {
	user, item, invoice, text string
	ts                        int64
}

func main() {
	data := flag.String("data", "../shared/data/online-retail/online_retail.csv.gz", "Online Retail CSV (gzip)")
	cutoffS := flag.String("cutoff", "2011-09-10", "first day of the horizon")
	horizon := flag.Int("horizon-days", 90, "horizon length in days")
	k := flag.Int("k", 10, "list length")
	def := recommend.DefaultConfig()
	co := flag.Float64("co", def.Blend.CoPurchase, "blend weight of co-purchase neighbours")
	txt := flag.Float64("text", def.Blend.Text, "blend weight of description (TF-IDF) neighbours")
	emb := flag.Float64("emb", def.Blend.Embedding, "blend weight of the item2vec taste cosine")
	pop := flag.Float64("pop", def.Blend.Popularity, "blend weight of recent popularity")
	half := flag.Float64("half-life", def.HalfLifeDays, "recency half-life in days")
	dim := flag.Int("dim", def.Dim, "item2vec dimensions (0: no embeddings)")
	epochs := flag.Int("epochs", def.Epochs, "item2vec epochs")
	window := flag.Int("window", def.Window, "item2vec window")
	nbrs := flag.Int("neighbours", def.Neighbours, "co-purchase neighbours kept per item")
	se := flag.Float64("source-exp", def.SourceExp, "co-purchase similarity: exponent of the bought item's buyers")
	te := flag.Float64("target-exp", def.TargetExp, "co-purchase similarity: exponent of the candidate's buyers")
	damp := flag.Float64("user-damping", def.UserDamping, "co-purchases weighed by 1/items^damping")
	maxItems := flag.Int("max-items", def.MaxItemsPerUser, "a user's most recent distinct items in co-purchases")
	popHalf := flag.Float64("pop-half-life", def.PopularityHalfLifeDays, "popularity half-life in days")
	minCount := flag.Int("min-count", def.MinCount, "item2vec: least occurrences for an embedding")
	touches := flag.Int("score-touches", def.ScoreTouches, "neighbours read to score one user (0: all)")
	sample := flag.Int("sample", 0, "train on this many users (a seeded sample; 0: all)")
	flag.Parse()

	cutoff, err := time.Parse("2006-01-02", *cutoffS)
	if err != nil {
		fatal(err)
	}
	lines, err := read(*data)
	if err != nil {
		fatal(err)
	}
	end := cutoff.AddDate(0, 0, *horizon).UnixMilli()
	asOf := cutoff.UnixMilli()
	past := map[string][]recommend.Event{}
	for _, l := range lines {
		if l.ts < asOf {
			past[l.user] = append(past[l.user], recommend.Event{Item: l.item, Text: l.text, Kind: recommend.Bought, Time: l.ts, Basket: l.invoice})
		}
	}
	targets := map[string]map[string]bool{}
	for _, l := range lines {
		h, ok := past[l.user]
		if !ok || l.ts < asOf || l.ts >= end || boughtBefore(h, l.item) {
			continue
		}
		if targets[l.user] == nil {
			targets[l.user] = map[string]bool{}
		}
		targets[l.user][l.item] = true
	}
	users := make([]string, 0, len(past))
	for u := range past {
		users = append(users, u)
	}
	slices.Sort(users)
	fmt.Fprintf(os.Stderr, "%d invoice lines, %d customers before the cutoff, %d with new products in the horizon\n",
		len(lines), len(users), len(targets))

	hist := make([][]recommend.Event, len(users))
	for i, u := range users {
		hist[i] = past[u]
	}
	knnRecall := 0.0
	eval := func(name string, extra map[string]any, rank func(i int) []string) {
		var recall, hits float64
		n := 0
		for i, u := range users {
			t := targets[u]
			if len(t) == 0 {
				continue
			}
			got := 0
			for _, it := range rank(i) {
				if t[it] {
					got++
				}
			}
			recall += float64(got) / float64(len(t))
			if got > 0 {
				hits++
			}
			n++
		}
		out := map[string]any{"method": name, "users": n, "k": *k,
			"recall_at_k": round4(recall / float64(n)), "hit_at_k": round4(hits / float64(n))}
		if name == "item-knn" {
			knnRecall = recall / float64(n)
		} else if knnRecall > 0 {
			out["recall_vs_knn"] = round4(recall / float64(n) / knnRecall)
		}
		for key, v := range extra {
			out[key] = v
		}
		b, _ := json.Marshal(out)
		fmt.Println(string(b))
	}

	popRank, knn := anchors(hist)
	eval("popularity", nil, func(i int) []string { return popRank(hist[i], *k) })
	eval("item-knn", nil, func(i int) []string { return knn(hist[i], *k) })

	cfg := def
	cfg.Blend = recommend.Blend{CoPurchase: *co, Text: *txt, Embedding: *emb, Popularity: *pop}
	cfg.SourceExp, cfg.TargetExp, cfg.UserDamping, cfg.MaxItemsPerUser = *se, *te, *damp, *maxItems
	cfg.PopularityHalfLifeDays, cfg.MinCount, cfg.ScoreTouches = *popHalf, *minCount, *touches
	cfg.HalfLifeDays, cfg.Dim, cfg.Epochs, cfg.Window, cfg.Neighbours = *half, *dim, *epochs, *window, *nbrs
	train := hist
	if *sample > 0 && *sample < len(hist) {
		train = sampled(hist, *sample)
	}
	t0 := time.Now()
	m, err := recommend.Train(train, asOf, cfg)
	if err != nil {
		fatal(err)
	}
	trainS := time.Since(t0).Seconds()
	promo := func(m *recommend.Model) func(i int) []string {
		s := recommend.NewScorer(m)
		return func(i int) []string {
			var ids []string
			for _, p := range s.Recommend(hist[i], asOf, recommend.Options{K: *k}) {
				ids = append(ids, p.Item)
			}
			return ids
		}
	}
	eval("promoflow", map[string]any{"blend": cfg.Blend, "half_life_days": cfg.HalfLifeDays, "pop_half_life_days": cfg.PopularityHalfLifeDays, "dim": cfg.Dim,
		"epochs": cfg.Epochs, "source_exp": cfg.SourceExp, "target_exp": cfg.TargetExp, "user_damping": cfg.UserDamping, "neighbours": cfg.Neighbours, "score_touches": cfg.ScoreTouches, "train_users": len(train), "train_wall_s": round4(trainS)}, promo(m))
}

func boughtBefore(h []recommend.Event, item string) bool {
	for _, e := range h {
		if e.Item == item {
			return true
		}
	}
	return false
}

// sampled is a seeded sample of n users' histories (every step-th).
func sampled(h [][]recommend.Event, n int) [][]recommend.Event {
	out := make([][]recommend.Event, 0, n)
	step := float64(len(h)) / float64(n)
	for i := 0; i < n; i++ {
		out = append(out, h[int(float64(i)*step)])
	}
	return out
}

// anchors builds the two reference rankers from the histories: items by
// distinct buyers, and the sum of full (untruncated) cosine similarities
// of binary buyer vectors to the user's items.
func anchors(hist [][]recommend.Event) (pop, knn func([]recommend.Event, int) []string) {
	index := map[string]int{}
	var names []string
	sets := make([][]int, len(hist))
	for u, h := range hist {
		seen := map[int]bool{}
		for _, e := range h {
			i, ok := index[e.Item]
			if !ok {
				i = len(names)
				index[e.Item] = i
				names = append(names, e.Item)
			}
			if !seen[i] {
				seen[i] = true
				sets[u] = append(sets[u], i)
			}
		}
	}
	n := len(names)
	buyers := make([]float64, n)
	co := make([]int32, n*n)
	for _, s := range sets {
		for _, i := range s {
			buyers[i]++
			for _, j := range s {
				if i != j {
					co[i*n+j]++
				}
			}
		}
	}
	byPop := make([]int, n)
	for i := range byPop {
		byPop[i] = i
	}
	slices.SortFunc(byPop, func(a, b int) int { return cmp.Or(cmp.Compare(buyers[b], buyers[a]), cmp.Compare(names[a], names[b])) })
	own := func(h []recommend.Event) map[int]bool {
		m := map[int]bool{}
		for _, e := range h {
			m[index[e.Item]] = true
		}
		return m
	}
	pop = func(h []recommend.Event, k int) []string {
		mine := own(h)
		var out []string
		for _, i := range byPop {
			if len(out) == k {
				break
			}
			if !mine[i] {
				out = append(out, names[i])
			}
		}
		return out
	}
	score := make([]float64, n)
	knn = func(h []recommend.Event, k int) []string {
		mine := own(h)
		clear(score)
		for i := range mine {
			row := co[i*n : (i+1)*n]
			for j, c := range row {
				if c > 0 {
					score[j] += float64(c) / math.Sqrt(buyers[i]*buyers[j])
				}
			}
		}
		cand := make([]int, 0, n)
		for j := range n {
			if !mine[j] && score[j] > 0 {
				cand = append(cand, j)
			}
		}
		slices.SortFunc(cand, func(a, b int) int { return cmp.Or(cmp.Compare(score[b], score[a]), cmp.Compare(names[a], names[b])) })
		var out []string
		for _, j := range cand {
			if len(out) == k {
				break
			}
			out = append(out, names[j])
		}
		// Too few neighbours: popularity fills the list, as it would in
		// any deployed kNN.
		for _, i := range byPop {
			if len(out) == k {
				break
			}
			if !mine[i] && !slices.Contains(out, names[i]) {
				out = append(out, names[i])
			}
		}
		return out
	}
	return pop, knn
}

// read returns the purchase lines with a customer, as the mapping keeps
// them.
func read(path string) ([]line, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := csv.NewReader(z)
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, err
	}
	var out []line
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		inv, code, user := rec[0], rec[1], strings.TrimSuffix(rec[6], ".0")
		q, _ := strconv.Atoi(rec[3])
		if user == "" || notProducts[strings.ToUpper(code)] || strings.HasPrefix(inv, "C") || q <= 0 {
			continue
		}
		ts, err := time.ParseInLocation("2006-01-02 15:04:05", rec[4], london)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, rec[4], err)
		}
		out = append(out, line{user: user, item: code, invoice: inv, text: rec[2], ts: ts.UnixMilli()})
	}
	return out, nil
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "recommend-eval:", err)
	os.Exit(1)
}
