package activities

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/promoflow/promoflow/internal/adjust"
	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/evaluate"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/report"
	"github.com/promoflow/promoflow/internal/strategy"
)

// campaignSummary is what the overview reads of a published campaign's
// summary.json (workflows.Summary, which this package cannot import).
type campaignSummary struct {
	Template string               `json:"template"`
	Campaign string               `json:"campaign"`
	Strategy *strategy.Summary    `json:"strategy"`
	Uplift   *strategy.UpliftInfo `json:"uplift"`
}

// templateOf reads the template a summary.json names; "" when it names
// none or is not JSON.
func templateOf(summary []byte) string {
	var s struct {
		Template string `json:"template"`
	}
	if json.Unmarshal(summary, &s) != nil {
		return ""
	}
	return s.Template
}

// WriteOverview writes template's overview page (layout.TemplateOverview,
// internal/report's RenderOverview) from the bucket: every campaign listed
// under layout.TemplateCampaigns or with a history object under
// layout.HistoryDir, its decision's summary and its evaluation's, and the
// template's adjustment state versions. It returns the page's address.
// now is the time the page says it was written. It is not an activity:
// EvaluateCampaign and WriteSummary call it, and so does `starter report`.
func WriteOverview(ctx context.Context, store Store, template string, now time.Time) (string, error) {
	return (&Activities{Store: store}).writeOverview(ctx, template, now)
}

func (a *Activities) writeOverview(ctx context.Context, template string, now time.Time) (string, error) {
	o, err := a.overview(ctx, template)
	if err != nil {
		return "", fmt.Errorf("overview of %s: %w", template, err)
	}
	o.Generated = now
	var buf bytes.Buffer
	if err := report.RenderOverview(&buf, o); err != nil {
		return "", fmt.Errorf("overview of %s: %w", template, err)
	}
	key := layout.TemplateOverview(template)
	if err := a.Store.Put(ctx, key, buf.Bytes()); err != nil {
		return "", err
	}
	return a.Store.URL(key), nil
}

// refreshOverview rewrites template's overview after an evaluation or a
// publication and returns its address. A failure is logged, not returned:
// the page is a view of what the evaluation and the plan already stored,
// and the next refresh (or starter report) writes it again.
func (a *Activities) refreshOverview(ctx context.Context, template string) string {
	url, err := a.writeOverview(ctx, template, time.Now().UTC())
	if err != nil {
		if activity.IsActivity(ctx) {
			activity.GetLogger(ctx).Warn("template overview not written", "template", template, "error", err)
		}
		return ""
	}
	return url
}

// templateCampaigns lists the campaigns of template: those published
// since the index existed and those evaluated (history objects).
func (a *Activities) templateCampaigns(ctx context.Context, template string) ([]string, error) {
	seen := map[string]bool{}
	idx, err := a.Store.List(ctx, layout.TemplateCampaigns(template))
	if err != nil {
		return nil, err
	}
	for _, k := range idx {
		seen[strings.TrimPrefix(k, layout.TemplateCampaigns(template))] = true
	}
	hist, err := a.Store.List(ctx, layout.HistoryDir(template))
	if err != nil {
		return nil, err
	}
	for _, k := range hist {
		rest := strings.TrimPrefix(k, layout.HistoryDir(template))
		if c, ok := strings.CutSuffix(rest, ".parquet"); ok && !strings.Contains(c, "/") {
			seen[c] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		if c != "" {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out, nil
}

// getJSON decodes the object at key into v; found is false when there is
// no such object.
func (a *Activities) getJSON(ctx context.Context, key string, v any) (found bool, err error) {
	data, err := a.Store.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, &corruptError{key: key, err: err}
	}
	return true, nil
}

func (a *Activities) overview(ctx context.Context, template string) (report.Overview, error) {
	o := report.Overview{Template: template}
	ids, err := a.templateCampaigns(ctx, template)
	if err != nil {
		return o, err
	}
	for _, id := range ids {
		var cs campaignSummary
		hasPlan, err := a.getJSON(ctx, layout.CampaignSummary(id), &cs)
		if err != nil {
			return o, err
		}
		var ev EvaluationSummary
		hasEval, err := a.getJSON(ctx, layout.EvaluationSummary(id), &ev)
		if err != nil {
			return o, err
		}
		if (!hasPlan || cs.Template != template) && (!hasEval || ev.Template != template) {
			continue // listed, but not (or no longer) this template's
		}
		c := report.OverviewCampaign{Campaign: id}
		if s := cs.Strategy; s != nil {
			c.Start, c.End = s.Start, s.End
			c.Budget, c.PlannedCost, c.ExpectedRevenue = s.Budget.Total, s.Budget.Used, s.ExpectedIncrementalRevenue
			c.PlanTreated, c.PlanControl, c.Explore = s.Audience.Treated, s.Audience.Control, s.Audience.Explore
			if m := s.Measurability; m != nil {
				c.HasMDL, c.MDL, c.Measurable = true, m.MDL, m.Measurable
			}
		}
		if u := cs.Uplift; u != nil {
			c.Learner, c.CVPolicyValue = u.Learner, u.CVPolicyValue
		}
		if hasEval {
			r := ev.Result
			c.Evaluated = true
			c.Start, c.End = ev.Start, ev.End
			c.Treated, c.Control = r.Treated, r.Control
			c.ResponseLift = r.Overall.ResponseLift
			c.IncrementalRevenue = scaleInterval(r.Overall.RevenueLift, float64(r.Overall.Treated.N))
			c.Cost, c.IncrementalProfit, c.ROI = r.Overall.Cost, r.Overall.IncrementalProfit, r.Overall.ROI
			c.StateVersion = ev.StateVersion
		}
		o.Campaigns = append(o.Campaigns, c)
	}
	// Window order; evaluated before live at the same start; then by id.
	slices.SortStableFunc(o.Campaigns, func(x, y report.OverviewCampaign) int {
		return cmp.Or(x.Start.Compare(y.Start), cmp.Compare(x.Campaign, y.Campaign))
	})
	states, err := a.stateVersions(ctx, template)
	if err != nil {
		return o, err
	}
	o.Effects, o.Changes = learned(states)
	return o, nil
}

// scaleInterval is iv times k (k >= 0): per-user effects to totals.
func scaleInterval(iv evaluate.Interval, k float64) evaluate.Interval {
	return evaluate.Interval{Value: iv.Value * k, Lo: iv.Lo * k, Hi: iv.Hi * k, SE: iv.SE * k, Defined: iv.Defined}
}

// stateVersions reads every versioned state of template, in version order.
func (a *Activities) stateVersions(ctx context.Context, template string) ([]*adjust.State, error) {
	keys, err := a.Store.List(ctx, layout.StateDir(template))
	if err != nil {
		return nil, err
	}
	var out []*adjust.State
	for _, k := range keys {
		base := path.Base(k)
		if !strings.HasPrefix(base, "v") || !strings.HasSuffix(base, ".json") || strings.Contains(strings.TrimPrefix(k, layout.StateDir(template)), "/") {
			continue
		}
		s, err := a.loadState(ctx, k)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(x, y *adjust.State) int { return cmp.Compare(x.Version, y.Version) })
	return out, nil
}

// learned turns state versions into the overview's effects per offer and
// segment and the offers each version retired, restored or promoted.
func learned(states []*adjust.State) ([]report.OfferEffects, []report.StateChange) {
	series := map[string]map[string][]report.EffectPoint{}
	var changes []report.StateChange
	prevRetired := map[string]bool{}
	prevPositive := map[string]bool{}
	for _, s := range states {
		for seg, cells := range s.Cells {
			for offer, e := range cells {
				if series[offer] == nil {
					series[offer] = map[string][]report.EffectPoint{}
				}
				series[offer][seg] = append(series[offer][seg], report.EffectPoint{Version: s.Version, Campaign: s.Campaign, Response: e.Response, SD: e.ResponseSD, N: e.N})
			}
		}
		ch := report.StateChange{Version: s.Version, Campaign: s.Campaign}
		retired := map[string]bool{}
		for _, r := range s.Retired {
			retired[r] = true
			if !prevRetired[r] {
				ch.Retired = append(ch.Retired, r)
			}
		}
		for r := range prevRetired {
			if !retired[r] {
				ch.Restored = append(ch.Restored, r)
			}
		}
		positive := map[string]bool{}
		for offer, e := range s.Offers {
			if e.ResponseSD > 0 && e.Response-z95*e.ResponseSD > 0 {
				positive[offer] = true
				if !prevPositive[offer] {
					ch.Promoted = append(ch.Promoted, offer)
				}
			}
		}
		slices.Sort(ch.Retired)
		slices.Sort(ch.Restored)
		slices.Sort(ch.Promoted)
		if len(ch.Retired)+len(ch.Restored)+len(ch.Promoted) > 0 {
			changes = append(changes, ch)
		}
		prevRetired, prevPositive = retired, positive
	}
	var effects []report.OfferEffects
	for _, offer := range sortedMapKeys(series) {
		oe := report.OfferEffects{Offer: offer}
		for _, seg := range sortedMapKeys(series[offer]) {
			oe.Segments = append(oe.Segments, report.EffectSeries{Segment: seg, Points: series[offer][seg]})
		}
		effects = append(effects, oe)
	}
	return effects, changes
}

// z95 is the two-sided 95% normal quantile.
var z95 = math.Sqrt2 * math.Erfinv(0.95)

func sortedMapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
