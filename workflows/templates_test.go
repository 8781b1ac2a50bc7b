package workflows_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/shard"
	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

// TestIntegrationTemplates runs every shipped template end to end on
// generated events, campaign history and profiles (deploy/datasets/
// synth.yaml) on one real stack, and checks each published plan against
// its summary and the template's rules; a last run checks suppression of
// opted-out and recently contacted users.
func TestIntegrationTemplates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	stack := testenv.Start(t)
	store := stack.Store(t)

	const users = 1200
	cfg := synth.Config{Users: users, Seed: 5}
	dir := t.TempDir()
	_, err := synth.WriteFile(filepath.Join(dir, "events.csv.gz"), cfg)
	must(t, err)
	var hist, prof, opt bytes.Buffer
	must(t, synth.WriteHistory(&hist, synth.HistoryConfig{Config: cfg}))
	prof.WriteString("user_id,member,gender\n")
	var optedOut []string
	for i := 1; i <= users; i++ {
		id := synth.UserID(i)
		fmt.Fprintf(&prof, "%s,%d,%s\n", id, shard.Of(id+"/m", 3)/2, []string{"f", "m", "x"}[shard.Of(id+"/g", 3)])
		if i%50 == 0 {
			optedOut = append(optedOut, id)
			fmt.Fprintln(&opt, id)
		}
	}
	must(t, store.PutFile(ctx, "raw/gen/events.csv.gz", filepath.Join(dir, "events.csv.gz")))
	must(t, store.Put(ctx, "raw/gen/history.csv", hist.Bytes()))
	must(t, store.Put(ctx, "raw/gen/profiles.csv", prof.Bytes()))
	must(t, store.Put(ctx, "raw/gen/optout.txt", opt.Bytes()))
	mapping, err := os.ReadFile("../deploy/datasets/synth.yaml")
	must(t, err)

	c := stack.TemporalClient(t)
	const queue = "promoflow-templates"
	w := workflows.NewWorker(c, queue, &activities.Activities{Store: store, TempDir: t.TempDir()}, worker.Options{})
	must(t, w.Start())
	defer w.Stop()

	run := func(t *testing.T, id string, spec *campaign.Template, cat *campaign.Catalog, inputs, optOut []string) (workflows.Summary, [][]string) {
		t.Helper()
		in := workflows.RegenerateInput{
			RunID: id, Template: spec.Name, Inputs: inputs, Mapping: string(mapping), Shards: 2, Seed: 3, K: 4, Window: 4,
			Spec: spec, Catalog: cat, OptOut: optOut,
		}
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.Regenerate, in)
		must(t, err)
		var sum workflows.Summary
		if err := wr.Get(ctx, &sum); err != nil {
			t.Fatalf("run %s: %v", id, err)
		}
		data, err := store.Get(ctx, "campaigns/"+id+"/plan.csv")
		must(t, err)
		rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		must(t, err)
		return sum, rows
	}
	all := []string{"raw/gen/events.csv.gz", "raw/gen/history.csv", "raw/gen/profiles.csv"}
	for _, tc := range []struct {
		name   string
		inputs []string
		adjust func(*campaign.Template)
		check  func(t *testing.T, s *strategy.Summary)
	}{
		{"weekly", all, nil, func(t *testing.T, s *strategy.Summary) {
			if s.Sources[strategy.SourceUplift] == 0 {
				t.Errorf("weekly with history: sources %v; want uplift estimates", s.Sources)
			}
		}},
		{"holiday", all, func(tp *campaign.Template) {
			tp.Approval = campaign.Approval{} // approval is the report stage's test
			tp.Event = "Test Fest"
			tp.Budget = 400
			tp.Fairness = &campaign.Fairness{Attribute: "gender", MaxGap: 0.03}
		}, func(t *testing.T, s *strategy.Summary) {
			if s.Budget.Used > 400 || s.Budget.Lambda == 0 {
				t.Errorf("budget %+v: want a binding multiplier and at most 400 used", s.Budget)
			}
			if s.Fairness == nil || len(s.Fairness.Groups) != 3 || s.Fairness.Gap > 0.03+1e-9 {
				t.Errorf("fairness %+v, want 3 groups within 0.03", s.Fairness)
			}
			if s.Sources[strategy.SourcePrior] == 0 {
				t.Errorf("sources %v: holiday offers have no history, want prior estimates", s.Sources)
			}
		}},
		{"launch", all[:1], nil, func(t *testing.T, s *strategy.Summary) {
			if s.Audience.Ineligible == 0 || s.Audience.Treated == 0 {
				t.Errorf("launch audience %+v: want users outside the category and some treated", s.Audience)
			}
		}},
		{"winback", all[:1], nil, func(t *testing.T, s *strategy.Summary) {
			if s.Audience.Ineligible == 0 || s.Audience.Eligible == 0 {
				t.Errorf("winback audience %+v: want active users excluded and inactive ones eligible", s.Audience)
			}
		}},
		{"member", all, nil, func(t *testing.T, s *strategy.Summary) {
			// Members are a third of the users by the profiles file.
			if share := float64(s.Audience.Eligible) / float64(s.Audience.Users); math.Abs(share-1.0/3) > 0.06 {
				t.Errorf("member audience %+v: eligible share %.3f, want about 1/3", s.Audience, share)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, cat, err := workflows.LoadCampaign(tc.name)
			must(t, err)
			spec.Approval = campaign.Approval{}
			spec.SuppressDays = 0 // the runs share a bucket; suppression has its own run below
			if tc.adjust != nil {
				tc.adjust(spec)
			}
			sum, rows := run(t, "tpl-"+tc.name, spec, cat, tc.inputs, nil)
			s := sum.Strategy
			if s == nil {
				t.Fatal("no strategy summary")
			}
			checkPlan(t, spec, s, rows, users)
			tc.check(t, s)
			// A mapped history file feeds the decision's learners (it has
			// no run_id: it joins to this run's features).
			if u := sum.Uplift; slices.Contains(tc.inputs, "raw/gen/history.csv") && tc.name == "weekly" &&
				(u == nil || len(u.Offers) == 0 || u.HistoryRows == 0 || u.Joined == 0 || u.Learner == "" || u.Campaigns != 0) {
				t.Errorf("weekly with a history file: uplift %+v", u)
			}
		})
	}

	// A cap on the offer most users want frees budget: capped users move
	// to their next best offer and the multiplier is solved again under
	// the quotas, so the budget is still used and never exceeded.
	t.Run("caps", func(t *testing.T) {
		spec, cat, err := workflows.LoadCampaign("holiday")
		must(t, err)
		spec.Approval, spec.SuppressDays, spec.Event, spec.Budget = campaign.Approval{}, 0, "Capped Fest", 400
		const capped = 100
		for i := range cat.Offers {
			if cat.Offers[i].ID == "free_shipping" {
				cat.Offers[i].Caps = campaign.Caps{Count: capped}
			}
		}
		sum, rows := run(t, "tpl-holiday-capped", spec, cat, all, nil)
		s := sum.Strategy
		checkPlan(t, spec, s, rows, users)
		if s.Budget.Resolves == 0 || s.Budget.Used > 400 || s.Budget.Used < 0.99*400 {
			t.Errorf("budget %+v: want solved again, 396..400 used", s.Budget)
		}
		col := colIndex(rows[0])
		var given, moved int
		for _, r := range rows[1:] {
			if r[col["offer"]] == "free_shipping" && r[col["control"]] != "true" {
				given++
			}
			if strings.Contains(r[col["reasons"]], "cap on free_shipping reached: next best offer") {
				moved++
			}
		}
		if given > capped || moved == 0 {
			t.Errorf("free_shipping to %d users (cap %d), %d moved to their next best offer", given, capped, moved)
		}
		t.Logf("budget %+v; %d users moved off free_shipping", s.Budget, moved)
	})

	t.Run("suppression", func(t *testing.T) {
		spec, cat, err := workflows.LoadCampaign("weekly")
		must(t, err)
		sum, rows := run(t, "tpl-weekly-again", spec, cat, all, []string{"raw/gen/optout.txt"})
		s := sum.Strategy
		checkPlan(t, spec, s, rows, users)
		if s.Audience.Suppressed[strategy.OptedOut] != int64(len(optedOut)) || s.Audience.Suppressed[strategy.RecentlyContacted] == 0 {
			t.Errorf("suppressed %v: want %d opted out and the users the weekly run contacted", s.Audience.Suppressed, len(optedOut))
		}
		col := colIndex(rows[0])
		for _, r := range rows[1:] {
			if slices.Contains(optedOut, r[col["user_id"]]) && (r[col["offer"]] != campaign.None || r[col["control"]] == "true") {
				t.Errorf("opted-out user in the plan: %v", r)
			}
		}
	})
}

func colIndex(header []string) map[string]int {
	m := map[string]int{}
	for i, h := range header {
		m[h] = i
	}
	return m
}

// checkPlan checks a published plan against its summary and the rules
// every plan keeps.
func checkPlan(t *testing.T, spec *campaign.Template, s *strategy.Summary, rows [][]string, users int) {
	t.Helper()
	col := colIndex(rows[0])
	for _, c := range []string{"user_id", "segment", "offer", "channel", "expected_incremental_revenue", "expected_cost", "control", "explore", "reasons"} {
		if _, ok := col[c]; !ok {
			t.Fatalf("plan has no %s column: %v", c, rows[0])
		}
	}
	if len(rows)-1 != users || s.Audience.Users != int64(users) {
		t.Fatalf("plan rows %d, summary users %d, want %d", len(rows)-1, s.Audience.Users, users)
	}
	var control, treated, explore int64
	cost := 0.0
	for _, r := range rows[1:] {
		if n := strings.Count(r[col["reasons"]], ";") + 1; n < 2 || n > 3 {
			t.Errorf("reasons %q: want 2 or 3", r[col["reasons"]])
		}
		if r[col["control"]] == "true" {
			control++
			continue
		}
		if r[col["offer"]] == campaign.None {
			continue
		}
		if !slices.Contains(spec.Offers, r[col["offer"]]) {
			t.Errorf("offer %s not in template %s", r[col["offer"]], spec.Name)
		}
		treated++
		if r[col["explore"]] == "true" {
			explore++
		}
		var c float64
		fmt.Sscan(r[col["expected_cost"]], &c)
		cost += c
	}
	if control != s.Audience.Control || treated != s.Audience.Treated || explore != s.Audience.Explore {
		t.Errorf("plan control/treated/explore %d/%d/%d, summary %+v", control, treated, explore, s.Audience)
	}
	if s.Budget.Total > 0 && cost > s.Budget.Total+1e-3 {
		t.Errorf("plan cost %.2f over budget %.2f", cost, s.Budget.Total)
	}
	if e := s.Audience.Eligible; e > 100 && math.Abs(s.Audience.ControlShare-spec.ControlShare) > 0.02 {
		t.Errorf("control share %.4f of %d eligible, want %.2f", s.Audience.ControlShare, e, spec.ControlShare)
	}
	for _, g := range s.Guards {
		// A small audience (the suppression run keeps about 80 eligible
		// users) cannot hold the template's minimum control group: the
		// control guard fails and says so, as the summary does.
		if m := s.Measurability; g.Name == "control" && m != nil && !m.Measurable {
			if g.Status != strategy.GuardFail || !strings.Contains(g.Detail, m.Detail) || s.Audience.Eligible >= int64(2*spec.MinControl) {
				t.Errorf("not measurable with %d eligible users: control guard %+v, measurability %+v", s.Audience.Eligible, g, m)
			}
			continue
		}
		if g.Status == strategy.GuardFail {
			t.Errorf("guard failed: %+v", g)
		}
	}
	t.Logf("%s: audience %+v; budget %+v; offers %v; sources %v", spec.Name, s.Audience, s.Budget, offerMix(s), s.Sources)
}

func offerMix(s *strategy.Summary) map[string]int64 {
	m := map[string]int64{}
	for _, o := range s.Offers {
		m[o.Offer] = o.Users
	}
	return m
}
