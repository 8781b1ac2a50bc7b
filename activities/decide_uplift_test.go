package activities

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/history"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/strategy"
)

// TestDecideHistoryJoinsDecisionFeatures: every history row is joined to
// the user's features in the run that decided its campaign, not to later
// ones (no leakage from later behaviour); only the newest campaigns are
// read, never the campaign being decided; the logged probabilities travel
// to the folds as propensities; the value of a first order is measured on
// the responders who had never ordered.
func TestDecideHistoryJoinsDecisionFeatures(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	acts := &Activities{Store: store}
	mem := memory.DefaultAllocator
	const users = 200
	aov := indexOf(features.Names, "avg_order_value")
	week := func(w int) time.Time { return time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 7*w) }
	// Runs r1..r4 decided campaigns c1..c4; in run rK every user's first
	// feature is K, so a row's features tell which run they came from.
	for k := 1; k <= 4; k++ {
		var rows []features.Row
		for u := range users {
			v := make([]float64, len(features.Names))
			v[0] = float64(k)
			if u >= users/2 {
				v[aov] = 150
			}
			rows = append(rows, features.Row{UserID: fmt.Sprintf("u%03d", u), Values: v})
		}
		rec := features.Record(rows, false, mem)
		must(t, acts.writeArrow(ctx, layout.Features(fmt.Sprintf("r%d", k), 0), features.Schema, rec))
		rec.Release()
		var hist []history.Row
		for u := range users {
			arm, p := history.ControlArm, 0.2
			if u%2 == 1 {
				arm, p = "coupon5", 0.76
			}
			// Responders without past orders buy for 30 an order, the
			// others for 200.
			var orders int64
			var revenue float64
			if u%5 == 0 {
				orders, revenue = 1+int64(u%2), 200
				if u < users/2 {
					revenue = 30 * float64(orders)
				}
			}
			hist = append(hist, history.Row{UserID: fmt.Sprintf("u%03d", u), Campaign: fmt.Sprintf("c%d", k), Arm: arm, Probability: p,
				Responded: u%5 == 0, Conversions: orders, Revenue: revenue, WindowStart: week(k), WindowEnd: week(k + 1), RunID: fmt.Sprintf("r%d", k)})
		}
		var buf bytes.Buffer
		must(t, history.Write(&buf, hist, mem))
		must(t, store.Put(ctx, layout.History("weekly", fmt.Sprintf("c%d", k)), buf.Bytes()))
	}
	// Deciding c4 again (a re-run) with the newest 2 campaigns: c3 and c2.
	v, err := acts.DecideHistory(ctx, DecideHistoryInput{RunID: "r5", Template: "weekly", Campaign: "c4", Campaigns: 2,
		Shards: 1, Offers: []string{"coupon5", "discount10"}, Folds: 2, Seed: 1})
	must(t, err)
	if v.Uplift.HistoryRows != 2*users || v.Uplift.Campaigns != 2 || v.Uplift.Joined != 2*users ||
		v.Uplift.Arms["coupon5"] != users || v.Info.Rows != 2*users || len(v.Info.Arms) != 2 {
		t.Fatalf("history %+v, info %+v", v.Uplift, v.Info)
	}
	d, err := acts.upliftData(ctx, v.FoldKeys, v.Info.Arms, v.Info.Features)
	must(t, err)
	byRun := map[float64]int{}
	for i, id := range d.IDs {
		camp := id[len(id)-2:]
		if want := map[string]float64{"c2": 2, "c3": 3}[camp]; d.X[i][0] != want {
			t.Fatalf("row %s joined to features of run %v", id, d.X[i][0])
		}
		byRun[d.X[i][0]]++
		if want := map[int]float64{0: 0.2, 1: 0.76}[d.A[i]]; math.Abs(d.P[i]-want) > 1e-12 {
			t.Fatalf("row %s arm %d: propensity %v, want %v", id, d.A[i], d.P[i], want)
		}
	}
	if byRun[2] != users || byRun[3] != users {
		t.Errorf("rows by run %v", byRun)
	}
	// First orders: 20 responders a campaign without past orders, every
	// other one with two orders, so 30 orders a campaign: two campaigns
	// are fewer than MinArmRows, three are enough.
	if v.Uplift.NewBuyerOrders != 60 || v.Uplift.NewBuyerBasket != 30 {
		t.Errorf("two campaigns: first orders %d, basket %v; want 60, 30", v.Uplift.NewBuyerOrders, v.Uplift.NewBuyerBasket)
	}
	v, err = acts.DecideHistory(ctx, DecideHistoryInput{RunID: "r5", Template: "weekly", Campaign: "c2", Campaigns: 1,
		Shards: 1, Offers: []string{"coupon5"}, Folds: 2, Seed: 1})
	must(t, err)
	if v.Uplift.NewBuyerOrders != 30 || v.Uplift.NewBuyerBasket != 0 {
		t.Errorf("one campaign: first orders %d, basket %v; want 30 and none (fewer than %d)", v.Uplift.NewBuyerOrders, v.Uplift.NewBuyerBasket, strategy.MinArmRows)
	}
	// Too little history: a reason, no folds.
	v, err = acts.DecideHistory(ctx, DecideHistoryInput{RunID: "r6", Template: "holiday", Campaign: "h1", Campaigns: 8, Shards: 1,
		Offers: []string{"coupon5"}, Folds: 2, Seed: 1})
	must(t, err)
	if v.Info.Rows != 0 || v.Uplift.Reason == "" || len(v.FoldKeys) != 0 {
		t.Errorf("no history: %+v", v)
	}
}
