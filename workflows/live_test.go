package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/live"
	"github.com/promoflow/promoflow/internal/strategy"
)

// TestLiveSlice: a slice answers decide updates of one request and of
// batches (scored by the LiveScore local activity), refuses empty batches, requests for other slices and unknown events,
// writes every decision to its log exactly once
// (in parts of FlushEvery, the rest when it stops), and never spends beyond
// its budget.
func TestLiveSlice(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(LiveSlice)
	env.RegisterActivity(&activities.Activities{})
	p := strategy.Params{
		Objective: "profit", Margin: 0.5, ControlShare: 0.1, Salt: "c1", Campaign: "c1",
		Offers: []campaign.Offer{{ID: "coupon5", Kind: campaign.Coupon, Fixed: 5, Channel: "email", Lift: 0.2}},
	}
	start := env.Now()
	pace := live.Pacing{Start: start, End: start.Add(time.Hour), Burst: 1}
	env.OnActivity(a.LiveScore, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.LiveScoreInput) ([]strategy.Scored, error) {
		var out []strategy.Scored
		for _, r := range in.Requests {
			u := strategy.User{ID: r.UserID, Segment: "s", Propensity: 0.1, Basket: 60, Orders: 2}
			out = append(out, in.Params.Score(u, nil, nil, nil))
		}
		return out, nil
	})
	logged := map[string]int{} // user:seq -> times logged
	parts := map[string]int{}
	env.OnActivity(a.LiveFlush, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.LiveFlushInput) (int, error) {
		parts[in.Key] += len(in.Decisions)
		for _, d := range in.Decisions {
			logged[fmt.Sprintf("%s:%d", d.UserID, d.Seq)]++
		}
		return len(in.Decisions), nil
	})

	const slices = 2
	var mine []string
	other := ""
	for i := 0; len(mine) < 30; i++ {
		u := fmt.Sprintf("u%04d", i)
		if live.SliceOf(u, slices) == 0 {
			mine = append(mine, u)
		} else if other == "" {
			other = u
		}
	}
	var answered, rejected int
	var offers int
	send := func(id string, reqs []live.Request, wantReject bool) {
		env.UpdateWorkflow(LiveDecideUpdate, id, &testsuite.TestUpdateCallback{
			OnAccept: func() {
				if wantReject {
					t.Errorf("%s accepted", id)
				}
			},
			OnReject: func(err error) {
				rejected++
				if !wantReject {
					t.Errorf("%s rejected: %v", id, err)
				}
			},
			OnComplete: func(v any, err error) {
				if err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				for _, d := range v.([]live.Decision) {
					answered++
					if d.Offer != campaign.None {
						offers++
					}
				}
			},
		}, reqs)
	}
	// One request per update, then batches of three.
	for i := 0; i < len(mine); {
		n := 1
		if i >= 12 {
			n = 3
		}
		var reqs []live.Request
		for _, u := range mine[i : i+n] {
			reqs = append(reqs, live.Request{UserID: u, Event: live.CartAbandoned})
		}
		env.RegisterDelayedCallback(func() { send(fmt.Sprintf("r%d", i), reqs, false) }, time.Duration(i+1)*time.Second)
		i += n
	}
	env.RegisterDelayedCallback(func() {
		send("wrong-slice", []live.Request{{UserID: mine[2], Event: live.Lapsed}, {UserID: other, Event: live.CartAbandoned}}, true)
		send("bad-event", []live.Request{{UserID: mine[0], Event: "purchase"}}, true)
		send("empty", nil, true)
		env.SignalWorkflow(LiveStopSignal, nil)
	}, time.Minute)
	budget := 12.0
	env.ExecuteWorkflow(LiveSlice, LiveSliceInput{
		Campaign: "c1", Slice: 0, Slices: slices, Params: p, Pacing: pace,
		State: live.Slice{Budget: budget}, FlushEvery: 10, FlushInterval: 30 * time.Second,
	})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res LiveSliceResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	st := res.Status
	if answered != len(mine) || rejected != 3 || st.Decisions != int64(len(mine)) || st.Logged != st.Decisions {
		t.Errorf("answered %d, rejected %d; status %+v", answered, rejected, st)
	}
	if len(logged) != len(mine) {
		t.Errorf("%d decisions logged, want %d", len(logged), len(mine))
	}
	for k, n := range logged {
		if n != 1 {
			t.Errorf("decision %s logged %d times", k, n)
		}
	}
	if len(parts) < 3 {
		t.Errorf("log parts %v: want several (every 10 decisions, then the rest)", parts)
	}
	if st.Spent > budget || offers == 0 || int64(offers) != st.Offers || st.Spent < budget-5 {
		t.Errorf("spent %.2f of %.2f with %d offers (status %+v)", st.Spent, budget, offers, st)
	}
}
