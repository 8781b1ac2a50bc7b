package workflows

import (
	"sort"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/report"
)

// reportData is the report's view of the run: aggregates of the summary
// only. Without the decision's summary (strategy), the offer mix comes from
// the plan counts and the lift curve from the plan rows (WriteReport).
func (r *run) reportData(ctx workflow.Context) report.Data {
	s := r.sum
	d := report.Data{
		Campaign: s.Campaign, Template: s.Template, RunID: s.RunID, Seed: s.Seed,
		Generated: workflow.Now(ctx), Users: s.Users, Segments: s.Segments,
		Treated: s.Plan.TreatedRows, Control: s.Plan.ControlRows,
		ExpectedIncrementalRevenue: s.Plan.ExpectedIncrementalRevenue, ExpectedCost: s.Plan.ExpectedCost,
		Budget: report.Budget{Used: s.Plan.ExpectedCost},
	}
	if c := s.Plan.ExpectedCost; c > 0 && r.in.Spec != nil { // never NaN: payloads are JSON
		d.ROI = (r.in.Spec.Margin*s.Plan.ExpectedIncrementalRevenue - c) / c
	}
	offers := make([]string, 0, len(s.Plan.Offers))
	for o := range s.Plan.Offers {
		offers = append(offers, o)
	}
	sort.Strings(offers) // map order is random; the report must not be
	for _, o := range offers {
		d.Offers = append(d.Offers, report.Offer{ID: o, Users: s.Plan.Offers[o]})
	}
	d.AddStrategy(s.Strategy)
	if ds := s.DenseClusters; ds != nil {
		d.Dense = &report.Dense{Eps: ds.Eps, MinPts: ds.MinPts, Excluded: ds.Excluded,
			Clusters: ds.Clusters, Outliers: ds.Outliers, Everyone: ds.Everyone,
			Farthest: ds.Farthest.Distances, FarthestMean: ds.Farthest.Mean, FarthestTable: ds.Farthest.Table}
	}
	if t := s.Topics; t != nil {
		d.Topics = &report.Topics{}
		for _, words := range t.Topics {
			var ws []string
			for _, w := range words {
				ws = append(ws, w.Term)
			}
			d.Topics.Words = append(d.Topics.Words, ws)
		}
		for _, seg := range t.Segments {
			st := report.SegmentTopics{Segment: seg.Name}
			for _, ts := range seg.Topics {
				st.Topics, st.Shares = append(st.Topics, ts.Topic), append(st.Shares, ts.Share)
			}
			d.Topics.Segments = append(d.Topics.Segments, st)
		}
	}
	if a := s.Approval; a != nil {
		d.Approval = &report.Approval{Status: a.Status, By: a.By, Comment: a.Comment, At: a.At, Reason: a.Reason}
	}
	return d
}

// writeReport renders the report to key and returns its address.
func (r *run) writeReport(ctx workflow.Context, key string) (string, error) {
	var url string
	err := workflow.ExecuteActivity(withActivityOptions(ctx), a.WriteReport, activities.WriteReportInput{
		Key: key, Data: r.reportData(ctx), ScoreKeys: r.scoreKeys, Featured: r.recs.keys != nil,
	}).Get(ctx, &url)
	return url, err
}
