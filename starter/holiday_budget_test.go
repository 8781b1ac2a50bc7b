package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// onlineRetail is the real Online Retail file (its README:
// ../shared/data/online-retail).
const onlineRetail = "../../shared/data/online-retail/online_retail.csv.gz"

// TestHolidayBudgetOnlineRetail is the small-audience holiday case of the
// budget (docs/EVALUATION.md, "Budget"): on the real Online Retail file, a
// weekly campaign contacts most customers (its plan is published, so its
// contacts are recorded); holiday campaigns starting the same day
// (suppress_days 3) with a 5,000 budget then have only the customers the
// weekly one did not contact. Campaign ids salt the control group and
// exploration, and the run seed the models, so each weekly and holiday id
// and seed is another instance: two weeklies (2011-12-10 and 2011-12-20,
// too far apart to suppress each other) with N holidays each (seeds 42,
// 43, ...; N is PROMOFLOW_HOLIDAY_CASE, at least 3), rejected at approval
// so that they record no contacts; and on the first instance, budgets of
// 3,000, 4,000, 6,000 and 8,000 too. It prints each holiday decision's budget (the
// multiplier, what it spent, what the budget repair added) and checks that
// the budget binds, is never exceeded and is used to at least 99.5%. It
// reads the shared data set and runs 6 + 2N regenerations (about four
// minutes for N = 3 here, eight for N = 6), so it runs only when asked:
//
//	PROMOFLOW_HOLIDAY_CASE=1 go test ./starter -run TestHolidayBudgetOnlineRetail -v -timeout 30m
func TestHolidayBudgetOnlineRetail(t *testing.T) {
	if testing.Short() || os.Getenv("PROMOFLOW_HOLIDAY_CASE") == "" {
		t.Skip("set PROMOFLOW_HOLIDAY_CASE=1: reads the Online Retail file and runs 6 + 2N regenerations (N holidays per weekly, at least 3)")
	}
	n, _ := strconv.Atoi(os.Getenv("PROMOFLOW_HOLIDAY_CASE"))
	n = max(3, n)
	if _, err := os.Stat(onlineRetail); err != nil {
		t.Skipf("Online Retail file: %v", err)
	}
	ctx := context.Background()
	t.Setenv("PROMOFLOW_TASK_QUEUE", "promoflow-holiday-budget")
	startStack(t, true)
	cli := cliRunner(t, ctx)
	dir := t.TempDir()
	read := func(path string) RunOutput {
		t.Helper()
		var out RunOutput
		data, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(data, &out)
		}
		if err != nil || out.Strategy == nil {
			t.Fatalf("%s: %v (strategy %v)", path, err, out.Strategy != nil)
		}
		return out
	}
	var before, after []float64
	for w, start := range []string{"2011-12-10", "2011-12-20"} {
		common := []string{"--mapping", "../deploy/datasets/online-retail.yaml", "--input", onlineRetail, "--start", start}
		weeklyID := fmt.Sprintf("or-weekly-%d", w+1)
		weeklyOut := filepath.Join(dir, weeklyID+".json")
		cli(append([]string{"run", "--template", "weekly", "--run-id", weeklyID, "--wait", "--json-out", weeklyOut}, common...)...)
		ws := read(weeklyOut).Strategy
		fmt.Printf("%s, start %s: %d users, %d treated, %.2f of %.0f used\n", weeklyID, start, ws.Audience.Users, ws.Audience.Treated, ws.Budget.Used, ws.Budget.Total)
		type holiday struct {
			seed   int
			budget float64
		}
		var runs []holiday
		for h := range n {
			runs = append(runs, holiday{42 + h, 5000})
		}
		if w == 0 { // other budgets on the first instance
			for _, b := range []float64{3000, 4000, 6000, 8000} {
				runs = append(runs, holiday{42, b})
			}
		}
		for h, hr := range runs {
			id := fmt.Sprintf("or-holiday-%d-%d", w+1, h+1)
			out := filepath.Join(dir, id+".json")
			done := make(chan string, 1)
			go func() {
				var stdout, stderr syncBuffer
				code := dispatch(ctx, append([]string{"run", "--template", "holiday", "--budget", fmt.Sprint(hr.budget), "--run-id", id, "--seed", fmt.Sprint(hr.seed),
					"--wait", "--json-out", out},
					common...), &stdout, &stderr)
				done <- fmt.Sprintf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
			}()
			// The holiday template requires approval: reject, so that
			// nothing is published and no contacts are recorded.
			deadline := time.Now().Add(10 * time.Minute)
			for {
				var st syncBuffer
				if dispatch(ctx, []string{"status", id}, &st, &st) == 0 && strings.Contains(st.String(), "awaiting approval") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not reach approval:\n%s", id, st.String())
				}
				time.Sleep(time.Second)
			}
			cli("reject", id, "--by", "budget-case", "--reason", "measurement only")
			if res := <-done; !strings.HasPrefix(res, "exit 0\n") {
				t.Fatalf("%s: %s", id, res)
			}
			s := read(out).Strategy
			b := s.Budget
			fmt.Printf("  %s (seed %d, budget %.0f): %d eligible (%d contacted recently), %d control, %d treated (%d explore); worthwhile offers %.2f; λ %.4f\n",
				id, hr.seed, hr.budget, s.Audience.Eligible, s.Audience.Suppressed["recently_contacted"], s.Audience.Control, s.Audience.Treated, s.Audience.Explore,
				b.Unconstrained+b.Explore, b.Lambda)
			if b.Lambda <= 0 || b.Repair == nil {
				t.Fatalf("%s: budget %+v: the budget should bind", id, b)
			}
			r := b.Repair
			fmt.Printf("    multiplier %.2f (%.2f%%) -> repair %d rounds, %d users (%d added), +%.2f cost, +%.2f %s -> %.2f (%.2f%%); expected incremental revenue %.2f\n",
				r.Before, 100*r.Before/b.Total, r.Rounds, r.Users, r.Added, r.Cost, r.Gain, s.Objective, b.Used, 100*b.Share, s.ExpectedIncrementalRevenue)
			if hr.budget == 5000 {
				before, after = append(before, r.Before/b.Total), append(after, b.Share)
			}
			if b.Used > b.Total || b.Used < 0.995*b.Total {
				t.Errorf("%s: used %.2f of %.2f, want at least 99.5%% and never more", id, b.Used, b.Total)
			}
		}
	}
	fmt.Printf("share of the 5,000 budget used over %d holiday runs: multiplier alone min %.4f mean %.4f; with the repair min %.4f mean %.4f\n",
		len(before), slices.Min(before), mean(before), slices.Min(after), mean(after))
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
