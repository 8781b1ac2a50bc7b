// Command dense-profile reads a finished run's density clusters from a
// local copy of its bucket folder (versitygw's posix directory, e.g.
// $STATE/s3/promoflow/runs/<run>) and says who the outliers are: how many
// of the top spenders, most frequent buyers, largest baskets and
// returners DBSCAN left as outliers, and the outliers' share of every
// k-means segment; on generated data (--synth-users, --synth-seed: those
// of `starter generate`), the outliers' share of every hidden persona.
// With --kmeans K it also compares k-means on every user with k-means on
// the inliers only (outliers then assigned to the nearest centroid): mean
// silhouette on a fixed subsample of inliers and of everyone, segment
// sizes and, on generated data, the adjusted Rand index against the
// personas. With --auc it trains the propensity booster with and without
// the outlier flag as a feature (compareAUC). The standardization is the segment stage's (features.Scaler
// of features.SegmentNames) with moments and clip quantiles of all users.
//
//	go run ./scripts/dense-profile --run /tmp/state/s3/promoflow/runs/<run>
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/kmeans"
	"github.com/promoflow/promoflow/internal/synth"
)

type user struct {
	values  []float64
	segment int32
	outlier bool
}

func main() {
	dir := flag.String("run", "", "the run's folder in a local bucket")
	synthUsers := flag.Int("synth-users", 0, "generated data: the users of `starter generate` (0: not generated)")
	synthSeed := flag.Int64("synth-seed", 7, "generated data: the seed of `starter generate`")
	k := flag.Int("kmeans", 0, "compare k-means with k segments on everyone and on the inliers (0: no)")
	auc := flag.Bool("auc", false, "compare the propensity booster's held-out AUC with and without the outlier flag as a feature")
	seed := flag.Int64("seed", 42, "with --auc: the run's seed (its holdout)")
	flag.Parse()
	users, err := load(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var outliers int
	for _, u := range users {
		if u.outlier {
			outliers++
		}
	}
	emit(map[string]any{"users": len(users), "outliers": outliers, "share": float64(outliers) / float64(len(users))})
	for _, name := range []string{"monetary", "frequency", "avg_order_value", "return_rate", "discount_share", "sessions_per_week"} {
		j := features.Index(name)
		vals := make([]float64, 0, len(users))
		for _, u := range users {
			vals = append(vals, u.values[j])
		}
		slices.Sort(vals)
		for _, top := range []float64{0.01, 0.05} {
			cut := vals[int((1-top)*float64(len(vals)-1))]
			var n, o int
			for _, u := range users {
				if u.values[j] >= cut {
					n++
					if u.outlier {
						o++
					}
				}
			}
			emit(map[string]any{"feature": name, "top": top, "at_least": cut, "users": n, "outliers": o,
				"outlier_share": float64(o) / float64(n), "share_of_outliers": float64(o) / float64(outliers)})
		}
	}
	bySeg := map[int32][2]int{}
	for _, u := range users {
		c := bySeg[u.segment]
		c[0]++
		if u.outlier {
			c[1]++
		}
		bySeg[u.segment] = c
	}
	for s := int32(0); int(s) < len(bySeg); s++ {
		c := bySeg[s]
		emit(map[string]any{"segment": s, "users": c[0], "outliers": c[1], "outlier_share": float64(c[1]) / float64(max(1, c[0]))})
	}
	var truth *synth.Truth
	if *synthUsers > 0 {
		truth = synth.NewTruth(synth.Config{Users: *synthUsers, Seed: *synthSeed})
		byPersona := map[string][2]int{}
		for id, u := range users {
			p := truth.Persona(id).Name
			c := byPersona[p]
			c[0]++
			if u.outlier {
				c[1]++
			}
			byPersona[p] = c
		}
		for _, p := range synth.Personas {
			c := byPersona[p]
			emit(map[string]any{"persona": p, "users": c[0], "outliers": c[1], "outlier_share": float64(c[1]) / float64(max(1, c[0]))})
		}
	}
	if *auc {
		if err := compareAUC(*dir, *seed); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if *k > 0 {
		if err := compareKMeans(users, *k, truth); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// compareKMeans clusters everyone and the inliers only, and scores both.
func compareKMeans(users map[string]*user, k int, truth *synth.Truth) error {
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	m := features.NewMoments(len(features.Names))
	raw := make([][]float64, len(ids))
	for i, id := range ids {
		raw[i] = users[id].values
		m.Add(features.Transform(raw[i]))
	}
	sc, err := features.NewScaler(features.SegmentNames, m, features.QuantilesOf(raw))
	if err != nil {
		return err
	}
	all := make([][]float64, len(ids))
	var in [][]float64
	for i := range ids {
		all[i] = sc.Apply(raw[i])
		if !users[ids[i]].outlier {
			in = append(in, all[i])
		}
	}
	// Silhouettes are quadratic: every n-th user, at most 3,000.
	sub := func(inliersOnly bool) []int {
		var idx []int
		for i, id := range ids {
			if !inliersOnly || !users[id].outlier {
				idx = append(idx, i)
			}
		}
		step := max(1, len(idx)/3000)
		var out []int
		for j := 0; j < len(idx); j += step {
			out = append(out, idx[j])
		}
		return out
	}
	subIn, subAll := sub(true), sub(false)
	var personas []int
	if truth != nil {
		for _, id := range ids {
			personas = append(personas, slices.Index(synth.Personas, truth.Persona(id).Name))
		}
	}
	for _, v := range []struct {
		name string
		fit  [][]float64
	}{{"everyone", all}, {"inliers", in}} {
		cents, _ := kmeans.Best(v.fit, k, 1, 3)
		labels := make([]int, len(all))
		sizes := make([]int, k)
		var inCost float64
		for i, x := range all {
			c, d := kmeans.Nearest(x, cents)
			labels[i] = c
			sizes[c]++
			if !users[ids[i]].outlier {
				inCost += d
			}
		}
		sil := func(idx []int) float64 {
			pts, ls := make([][]float64, len(idx)), make([]int, len(idx))
			for j, i := range idx {
				pts[j], ls[j] = all[i], labels[i]
			}
			return kmeans.Silhouette(pts, ls, k)
		}
		slices.Sort(sizes)
		out := map[string]any{"kmeans_on": v.name, "k": k, "silhouette_inliers": sil(subIn), "silhouette_everyone": sil(subAll),
			"inlier_cost_per_user": inCost / float64(len(in)), "sizes": sizes}
		if personas != nil {
			out["ari_personas"] = kmeans.AdjustedRand(labels, personas)
		}
		emit(out)
	}
	return nil
}

func emit(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

// load joins every shard's features, segments and dense clusters by user.
func load(dir string) (map[string]*user, error) {
	mem := memory.NewGoAllocator()
	users := map[string]*user{}
	each := func(pattern string, schema *arrow.Schema, fn func(arrow.Record) error) error {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil || len(files) == 0 {
			return fmt.Errorf("%s: no files (%v)", pattern, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if err := arrowio.Each(data, schema, mem, fn); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
		return nil
	}
	err := each("features/*.arrow", features.Schema, func(rec arrow.Record) error {
		return features.EachValues(rec, func(id string, v []float64) {
			users[string([]byte(id))] = &user{values: slices.Clone(v)}
		})
	})
	if err != nil {
		return nil, err
	}
	err = each("segments/shard=*.arrow", features.SegmentSchema, func(rec arrow.Record) error {
		ids, segs := rec.Column(0).(*array.String), rec.Column(1).(*array.Int32)
		for r := range ids.Len() {
			if u := users[ids.Value(r)]; u != nil {
				u.segment = segs.Value(r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each("segments/dense/*.arrow", activities.DenseSchema, func(rec arrow.Record) error {
		ids, labels := rec.Column(0).(*array.String), rec.Column(1).(*array.Int32)
		for r := range ids.Len() {
			if u := users[ids.Value(r)]; u != nil {
				u.outlier = labels.Value(r) < 0
			}
		}
		return nil
	})
	return users, err
}
