package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/workflows"
)

// printRunSummary writes what `run --wait` (and so `make demo`) prints of
// a finished run: its stages and seconds, users, segments, offers, budget,
// control group and links, in under 60 lines for any template (a line per
// stage, segment and offer; segments and offers are capped at
// summaryListMax each). The whole summary is the JSON of --json or
// --json-out, which writes it to jsonFile ("" when none).
func printRunSummary(w io.Writer, out RunOutput, jsonFile string) {
	s := out.Summary
	total := 0.0
	for _, st := range s.Stages {
		total += st.Seconds
	}
	fmt.Fprintf(w, "run %s: template %s, campaign %s, seed %d, %d shards\n", s.RunID, s.Template, s.Campaign, s.Seed, s.Shards)
	fmt.Fprintf(w, "input: %d file(s), %d rows read, %d accepted, %d duplicates, %d rejected\n",
		len(s.Inputs), s.Ingest.RowsRead, s.Ingest.Accepted, s.Ingest.Duplicates, s.Ingest.Rejected)

	fmt.Fprintf(w, "stages (%.1fs in all):\n", total)
	for _, st := range s.Stages {
		line := fmt.Sprintf("  %-9s %6.1fs", st.Name, st.Seconds)
		if st.Detail != "" {
			line += "  " + st.Detail
		}
		fmt.Fprintln(w, line)
	}

	fmt.Fprintf(w, "users: %d", s.Users)
	if st := s.Strategy; st != nil {
		a := st.Audience
		fmt.Fprintf(w, ": %d eligible, %d treated (%d exploring), %d no offer, %d control", a.Eligible, a.Treated, a.Explore, a.NoOffer, a.Control)
		if n := a.Ineligible + sumValues(a.Suppressed); n > 0 {
			fmt.Fprintf(w, ", %d ineligible or suppressed", n)
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "segments (%d):\n", len(s.Segments))
	for i, seg := range s.Segments {
		if i == summaryListMax {
			fmt.Fprintf(w, "  ... %d more in the JSON summary\n", len(s.Segments)-i)
			break
		}
		line := fmt.Sprintf("  %-20s %7d users %5.1f%%", seg.Name, seg.Size, 100*seg.Share)
		if len(seg.Traits) > 0 {
			line += "  " + strings.Join(seg.Traits[:min(2, len(seg.Traits))], ", ")
		}
		fmt.Fprintln(w, line)
	}

	if d := s.DenseClusters; d != nil {
		o := d.Outliers
		fmt.Fprintf(w, "density: %d dense clusters, %d outliers (%.1f%%): spend %.2f against %.2f, orders %.1f against %.1f",
			len(d.Clusters), o.Size, 100*o.Share, o.Mean["monetary"], d.Everyone["monetary"], o.Mean["frequency"], d.Everyone["frequency"])
		if d.Excluded {
			fmt.Fprint(w, "; left out of the audience")
		}
		fmt.Fprintln(w)
	}

	printOffers(w, s)

	if st := s.Strategy; st != nil {
		b := st.Budget
		if b.Total > 0 {
			fmt.Fprintf(w, "budget: %.2f of %.2f expected to be spent (%.0f%%)", b.Used, b.Total, 100*b.Share)
			if b.Lambda > 0 {
				fmt.Fprintf(w, "; it binds (every offer worth its cost would cost %.2f)", b.Unconstrained)
			}
			fmt.Fprintln(w)
		} else {
			fmt.Fprintf(w, "budget: none; expected cost %.2f\n", b.Used)
		}
		fmt.Fprintf(w, "expected: incremental revenue %.2f, cost %.2f, incremental profit %.2f (ROI %.2f)\n",
			st.ExpectedIncrementalRevenue, st.ExpectedCost, st.ExpectedIncrementalProfit, st.ROI)
		fmt.Fprintf(w, "control: %d users held out (%.1f%% of the eligible), never contacted\n", st.Audience.Control, 100*st.Audience.ControlShare)
		if m := st.Measurability; m != nil {
			fmt.Fprintln(w, measurabilityLine(*m))
		}
	} else {
		fmt.Fprintf(w, "expected: incremental revenue %.2f, cost %.2f\ncontrol: %d users held out\n",
			s.Plan.ExpectedIncrementalRevenue, s.Plan.ExpectedCost, s.Plan.ControlRows)
	}
	if s.Approval != nil {
		fmt.Fprintln(w, approvalLine(*s.Approval))
	}
	if s.Evaluation != "" {
		fmt.Fprintf(w, "evaluation: %s (measures the campaign against its control group when its window ends)\n", s.Evaluation)
	}

	fmt.Fprintf(w, "plan:    %s (%d rows)\nreport:  %s\n", s.Plan.CSV, s.Plan.Rows, s.Plan.Report)
	if jsonFile != "" {
		fmt.Fprintf(w, "summary: %s (the whole summary, JSON; also %s)\n", jsonFile, s.Plan.Summary)
	} else {
		fmt.Fprintf(w, "summary: %s\n", s.Plan.Summary)
	}
	fmt.Fprintf(w, "ui:      %s\n", out.UIURL)
}

// measurabilityLine says what the campaign's control group can measure:
// its minimum detectable lift, or plainly that it is not measurable.
func measurabilityLine(m strategy.Measurability) string {
	if !m.Measurable {
		return "NOT MEASURABLE (" + m.Action + "): " + m.Detail
	}
	return "measurable: " + m.Detail
}

// summaryListMax is how many segments, and how many offers, the run
// summary lists.
const summaryListMax = 12

// printOffers writes the offer mix: users, expected cost and incremental
// revenue per offer from the strategy, else the plan's counts.
func printOffers(w io.Writer, s workflows.Summary) {
	if s.Strategy != nil {
		fmt.Fprintf(w, "offers (%d):\n", len(s.Strategy.Offers))
		for i, o := range s.Strategy.Offers {
			if i == summaryListMax {
				fmt.Fprintf(w, "  ... %d more in the JSON summary\n", len(s.Strategy.Offers)-i)
				break
			}
			fmt.Fprintf(w, "  %-16s %7d users  cost %10.2f  incremental revenue %10.2f\n", o.Offer, o.Users, o.ExpectedCost, o.IncrementalRevenue)
		}
		return
	}
	names := make([]string, 0, len(s.Plan.Offers))
	for name := range s.Plan.Offers {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "offers (%d):\n", len(names))
	for i, name := range names {
		if i == summaryListMax {
			fmt.Fprintf(w, "  ... %d more in the JSON summary\n", len(names)-i)
			break
		}
		fmt.Fprintf(w, "  %-16s %7d users\n", name, s.Plan.Offers[name])
	}
}

func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
