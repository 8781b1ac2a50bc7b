package strategy

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/budget"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/plan"
)

// driverBlocks are 3,000 random users scored and stratified in three
// blocks, with their stats; with uncapped, p's offers lose their caps.
func driverBlocks(p *Params, uncapped bool) ([][]Scored, []ScoreStats) {
	if uncapped {
		p.Offers = slices.Clone(p.Offers)
		for i := range p.Offers {
			p.Offers[i].Caps = campaign.Caps{}
		}
	}
	blocks := scoreShards(p, randomUsers(rand.New(rand.NewPCG(4, 4)), 3000), 3, false)
	stats := make([]ScoreStats, len(blocks))
	for i, u := range blocks {
		p.StratifyControl(u)
		stats[i] = p.Stats(u)
	}
	return blocks, stats
}

// TestDriverRequests: the driver asks for the work of the decision in the
// workflow's order. Without a budget: the full-range curve, one
// assignment pass (with caps, passes until the quotas hold), done. With a
// binding budget: the full-range curve, the solver's four rounds at their
// grids, the passes, the repair's proposal rounds and the blocks with
// picks assigned again with their rounds; with caps, the quotas' passes
// leave budget unspent, so the multiplier is solved again under them
// (four more curve rounds) before the repair. A closed repair gate leaves
// the repair out. Every request names every block's quotas, and
// only the first pass is marked First.
func TestDriverRequests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		total  float64
		caps   bool
		closed bool // the repair gate
		want   string
	}{
		{"no budget", 0, false, false, "curves assign done"},
		{"no budget, caps", 0, true, false, "curves assign assign assign done"},
		{"binding", 1000, false, false, "curves curves curves curves curves assign upgrades upgrades assign done"},
		{"binding, gate closed", 1000, false, true, "curves curves curves curves curves assign done"},
		{"binding, caps", 600, true, false, "curves curves curves curves curves assign assign curves curves curves curves assign upgrades upgrades assign done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := params("profit")
			blocks, stats := driverBlocks(&p, !tc.caps)
			d := NewDriver(p, tc.total, nil, stats)
			gates := 0
			d.RepairGate = func() bool { gates++; return !tc.closed }
			x := Local{P: d.Params(), Blocks: blocks, Rows: make([][]plan.Row, len(blocks))}
			var ops []string
			firsts := 0
			req := d.Start()
			if want := budget.Grid(0, budget.MaxLambda(maxRatio(stats)), 64); !slices.Equal(req.Grid, want) {
				t.Fatalf("first grid %v..., want the full range up to %v", req.Grid[:3], want[63])
			}
			for {
				ops = append(ops, req.Op.String())
				if req.Op == Done {
					break
				}
				if len(req.Quotas) != len(blocks) {
					t.Fatalf("%s: %d quotas for %d blocks", req.Op, len(req.Quotas), len(blocks))
				}
				if req.First {
					firsts++
				}
				var err error
				if req, err = d.Next(x.Run(req)); err != nil {
					t.Fatal(err)
				}
			}
			if got := strings.Join(ops, " "); got != tc.want {
				t.Errorf("requests %q, want %q", got, tc.want)
			}
			out := d.Outcome()
			if firsts != 1 || (tc.total > 0) != (out.Lambda > 0) || (tc.total > 0 && gates != 1) || (out.Repair != nil) != (tc.total > 0 && !tc.closed) {
				t.Errorf("%d first passes, λ %v, gate asked %d times, repair %+v", firsts, out.Lambda, gates, out.Repair)
			}
			var spent float64
			for _, tl := range d.Tallies() {
				spent += tl.Cost
			}
			if tc.total > 0 && (spent > tc.total || spent < 0.99*tc.total) {
				t.Errorf("spent %.2f of %v", spent, tc.total)
			}
		})
	}
}

// maxRatio is the bound of the blocks' value per cost.
func maxRatio(stats []ScoreStats) float64 {
	var all ScoreStats
	for _, s := range stats {
		all.Merge(s)
	}
	return all.MaxRatio
}

// TestDriverBadResults: results that do not answer the request are
// errors naming it, not a plan: too few curves, a curve over another
// grid, too few tallies or proposals.
func TestDriverBadResults(t *testing.T) {
	p := params("profit")
	blocks, stats := driverBlocks(&p, true)
	for _, tc := range []struct {
		name  string
		until Op // answered right until this op
		bad   func(req Request, good Results) Results
		want  string
	}{
		{"missing curve", Curves, func(_ Request, r Results) Results { r.Curves = r.Curves[:2]; return r }, "curves: 2 curves for 3 blocks"},
		{"other grid", Curves, func(_ Request, r Results) Results {
			r.Curves[1] = budget.NewCurve(budget.Grid(0, 1, 64))
			return r
		}, "curves: block 1: budget curve"},
		{"missing tally", Assign, func(_ Request, r Results) Results { r.Tallies = nil; return r }, "assign: 0 tallies for 3 blocks"},
		{"missing proposals", Upgrades, func(_ Request, r Results) Results { r.Upgrades = r.Upgrades[:1]; return r }, "upgrades: 1 proposals for 3 blocks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDriver(p, 1500, nil, stats)
			x := Local{P: d.Params(), Blocks: blocks, Rows: make([][]plan.Row, len(blocks))}
			req := d.Start()
			var err error
			for req.Op != Done {
				res := x.Run(req)
				if req.Op == tc.until {
					_, err = d.Next(tc.bad(req, res))
					break
				}
				if req, err = d.Next(res); err != nil {
					t.Fatal(err)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
