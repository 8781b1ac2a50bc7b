package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/adjust"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/history"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/uplift"
)

// TestDecidePrepare: the state is pinned into the run, and only contact
// lists of other campaigns started within the suppression window count.
func TestDecidePrepare(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	st := &adjust.State{Template: "weekly", Version: 3, Campaign: "w-2", Retired: []string{"coupon5"}, Explore: map[string]float64{"flash20": 0.2}}
	data, err := st.Marshal()
	must(t, err)
	must(t, store.Put(ctx, adjust.Key("weekly"), data))
	start := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for _, k := range []string{
		ContactsKey(start.AddDate(0, 0, -8), "old"),  // outside 6 days
		ContactsKey(start.AddDate(0, 0, -6), "edge"), // the first day inside
		ContactsKey(start.AddDate(0, 0, -1), "recent"),
		ContactsKey(start, "this"), // the campaign itself: a re-run must not suppress itself
		ContactsKey(start.AddDate(0, 0, 1), "future"),
	} {
		must(t, store.Put(ctx, k, []byte("u1\n")))
	}
	env, acts := newEnv(store)
	v, err := env.ExecuteActivity(acts.DecidePrepare, DecidePrepareInput{RunID: "r", Template: "weekly", Campaign: "this", Start: start, SuppressDays: 6})
	must(t, err)
	var out DecidePrepareOutput
	must(t, v.Get(&out))
	want := []string{ContactsKey(start.AddDate(0, 0, -6), "edge"), ContactsKey(start.AddDate(0, 0, -1), "recent")}
	if !slices.Equal(out.ContactKeys, want) {
		t.Errorf("contact keys %v, want %v", out.ContactKeys, want)
	}
	if out.State == nil || out.State.Version != 3 || !slices.Equal(out.Retired, []string{"coupon5"}) || out.Explore["flash20"] != 0.2 {
		t.Errorf("prepare %+v", out)
	}
	pinned, err := store.Get(ctx, out.StateKey)
	must(t, err)
	if string(pinned) != string(data) {
		t.Error("the run's state copy differs from latest.json")
	}
	// Without a state: nothing pinned.
	v, err = env.ExecuteActivity(acts.DecidePrepare, DecidePrepareInput{RunID: "r2", Template: "holiday", Campaign: "h", Start: start})
	must(t, err)
	must(t, v.Get(&out))
	if out.StateKey != "" || out.State != nil || out.ContactKeys != nil {
		t.Errorf("no state: %+v", out)
	}
}

// TestEachID reads user lists: one id per line or a CSV's first column,
// a header and a byte-order mark skipped, only the shard's users.
func TestEachID(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	must(t, store.Put(ctx, "raw/optout.csv", []byte("\ufeffuser_id,reason\nu1,asked\n\"u2\",asked\n\nu3\n")))
	acts := &Activities{Store: store}
	var got []string
	for i := range 2 {
		must(t, acts.eachID(ctx, "raw/optout.csv", i, 2, func(id string) {
			if shard.Of(id, 2) != i {
				t.Errorf("%s read in shard %d", id, i)
			}
			got = append(got, id)
		}))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"u1", "u2", "u3"}) {
		t.Errorf("ids %v", got)
	}
}

// TestUpliftModelsCache: shards decode a run's uplift models once; other
// bytes at the same key are decoded anew, and corrupt ones fail.
func TestUpliftModelsCache(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	a := &Activities{Store: store}
	encode := func(seed uint64) []byte {
		rng := rand.New(rand.NewPCG(seed, 1))
		var ids []string
		var xs [][]float64
		var arms []int
		var ys, ps []float64
		for i := range 400 {
			x := []float64{rng.Float64(), rng.Float64()}
			arm := rng.IntN(2)
			y := 0.0
			if rng.Float64() < 0.2+0.3*x[0]*float64(arm) {
				y = 1
			}
			ids, xs, arms, ys, ps = append(ids, fmt.Sprint(i)), append(xs, x), append(arms, arm), append(ys, y), append(ps, 0.5)
		}
		d, err := uplift.NewData(ids, []string{history.ControlArm, "coupon5"}, []string{"x0", "x1"}, xs, arms, ys, ps, 2, int64(seed))
		must(t, err)
		mx, err := uplift.Matrix(d)
		must(t, err)
		m, err := uplift.Fit(d, mx, uplift.TLearner, uplift.Config{Trees: 5, Seed: int64(seed)})
		must(t, err)
		data, err := json.Marshal(m)
		must(t, err)
		return data
	}
	key := "runs/r/models/uplift/models.json"
	one, two := encode(1), encode(2)
	must(t, store.Put(ctx, key, one))
	var first *uplift.Model
	var wg sync.WaitGroup
	got := make([]*uplift.Model, 4)
	for i := range got {
		wg.Go(func() {
			m, err := a.upliftModels(ctx, key)
			if err != nil {
				t.Error(err)
			}
			got[i] = m
		})
	}
	wg.Wait()
	first = got[0]
	for i, m := range got {
		if m == nil || m != first {
			t.Fatalf("shard %d got models %p, shard 0 %p: want one decoding shared", i, m, first)
		}
	}
	must(t, store.Put(ctx, key, two))
	second, err := a.upliftModels(ctx, key)
	must(t, err)
	if second == first {
		t.Fatal("other bytes at the same key returned the models decoded before")
	}
	x := [][]float64{{0.9, 0.5}}
	e1, e2 := first.Predict(x).Effect["coupon5"][0], second.Predict(x).Effect["coupon5"][0]
	if e1 == e2 {
		t.Errorf("models from seeds 1 and 2 estimate alike (%+v): the test cannot tell them apart", e1)
	}
	must(t, store.Put(ctx, key, []byte("{")))
	if _, err := a.upliftModels(ctx, key); err == nil {
		t.Error("corrupt models decoded")
	}
}
