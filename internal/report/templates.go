package report

import (
	"bytes"
	"html/template"
	"strings"

	"github.com/promoflow/promoflow/internal/evaluate"
)

var funcs = template.FuncMap{
	"int":   Int,
	"money": Money,
	"pct":   Pct,
	"fixed": Fixed,
	"ratio": Ratio,
	"share": func(a, b int64) string { return Pct(Ratio(float64(a), float64(b))) },
	"mean": func(m map[string]float64, k string) string {
		v, ok := m[k]
		if !ok {
			return NA
		}
		return Fixed(v, 2)
	},
	"pp":     PP,
	"points": Points,
	"inc":    func(i int) int { return i + 1 },
	"join":   func(s []string) string { return strings.Join(s, ", ") },
	"ci":     func(iv evaluate.Interval) string { return CI(iv, PP) },
	"cim":    func(iv evaluate.Interval) string { return CI(iv, Money) },
	"cis":    func(iv evaluate.Interval) string { return CIShort(iv, PP) },
	"cism":   func(iv evaluate.Interval) string { return CIShort(iv, Money) },
	"gt":     func(a, b float64) bool { return a > b },
	"float":  func(n int64) float64 { return float64(n) },
}

func execute(t *template.Template, data any) (template.HTML, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil // #nosec: produced by html/template
}

func parse(name, text string) *template.Template {
	return template.Must(template.New(name).Funcs(funcs).Parse(text))
}

// pageTmpl is the page frame. The CSS is inline and there is no script, so
// the file opens anywhere, offline; tables scroll sideways on a phone
// rather than squeezing.
var pageTmpl = parse("page", `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<style>
:root{--fg:#1d2330;--muted:#5b6475;--line:#dde1e8;--accent:#0072b2;--bg:#fff;--soft:#f5f7fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:980px;margin:0 auto;padding:0 16px}
header{padding-top:20px}
h1{font-size:1.5rem;margin:0 0 4px}
h3{font-size:1rem;margin:16px 0 6px}
h2{font-size:1.2rem;margin:28px 0 10px;padding-top:8px;border-top:1px solid var(--line)}
.sub{color:var(--muted);margin:0 0 14px;font-size:.9rem}
nav{display:flex;flex-wrap:wrap;gap:6px 14px;font-size:.9rem;margin-bottom:8px}
nav a{color:var(--accent);text-decoration:none}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:10px 0}
.kpi{background:var(--soft);border-radius:8px;padding:10px 12px}
.kpi .l{font-size:.78rem;color:var(--muted);text-transform:uppercase;letter-spacing:.03em}
.kpi .v{font-size:1.25rem;font-weight:600;font-variant-numeric:tabular-nums}
.kpi .n{font-size:.8rem;color:var(--muted)}
figure{margin:8px 0 14px}
svg.chart{display:block;width:100%;height:auto;max-width:640px}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.9rem;font-variant-numeric:tabular-nums}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
.meter{height:14px;background:var(--soft);border-radius:7px;overflow:hidden;border:1px solid var(--line)}
.meter>div{height:100%;background:var(--accent)}
.empty{color:var(--muted);font-style:italic}
.ok{color:#007a55;font-weight:600}.bad{color:#b3261e;font-weight:600}
.tags{color:var(--muted);font-size:.82rem}
tr.traits td{border-top:0;padding-top:0;font-size:.84rem;color:var(--muted);white-space:normal}
tr:has(+tr.traits) td{border-bottom:0}
footer{color:var(--muted);font-size:.8rem;padding:24px 16px}
@media (max-width:600px){body{font-size:14px}h1{font-size:1.25rem}th,td{padding:5px 6px}}
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
{{with .Subtitle}}<p class="sub">{{.}}</p>{{end}}
<nav>{{range .Sections}}<a href="#{{.ID}}">{{.Title}}</a>{{end}}</nav>
{{with .KPIs}}<div class="kpis">{{range .}}<div class="kpi"><div class="l">{{.Label}}</div><div class="v">{{.Value}}</div>{{with .Note}}<div class="n">{{.}}</div>{{end}}</div>{{end}}</div>{{end}}
</header>
<main>
{{range .Sections}}<section id="{{.ID}}">
<h2>{{.Title}}</h2>
{{.Body}}
</section>
{{end}}</main>
{{with .Footer}}<footer>{{.}}</footer>{{end}}
</body>
</html>
`)

var segmentsTmpl = parse("segments", `<figure>{{.Chart}}</figure>
<div class="scroll"><table>
<thead><tr><th>segment</th><th class="num">users</th><th class="num">share</th>{{range .Cols}}<th class="num">{{.Label}}</th>{{end}}</tr></thead>
<tbody>{{$cols := .Cols}}{{$ncols := .NCols}}{{range .Segments}}{{$s := .}}<tr><td>{{.Name}}</td><td class="num">{{int .Size}}</td><td class="num">{{pct .Share}}</td>{{range $cols}}<td class="num">{{mean $s.Mean .Key}}</td>{{end}}</tr>
{{if or .Traits .TopTerms}}<tr class="traits"><td colspan="{{$ncols}}">{{range $i, $t := .Traits}}{{if $i}}; {{end}}{{$t}}{{end}}{{with .TopTerms}}<div class="tags">interests: {{range $i, $t := .}}{{if lt $i 8}}{{if $i}}, {{end}}{{$t.Term}}{{end}}{{end}}</div>{{end}}</td></tr>{{end}}
{{end}}</tbody></table></div>
`)

var offersTmpl = parse("offers", `<figure>{{.Chart}}</figure>
<div class="scroll"><table>
<thead><tr><th>offer</th><th>channel</th><th class="num">users</th><th class="num">share</th><th class="num">expected cost</th><th class="num">expected incr. revenue</th><th class="num">revenue / cost</th></tr></thead>
<tbody>{{$t := .Treated}}{{range .Offers}}<tr><td>{{.ID}}{{with .Kind}} <span class="tags">({{.}})</span>{{end}}</td><td>{{.Channel}}</td><td class="num">{{int .Users}}</td><td class="num">{{share .Users $t}}</td><td class="num">{{money .ExpectedCost}}</td><td class="num">{{money .ExpectedIncrementalRevenue}}</td><td class="num">{{fixed (ratio .ExpectedIncrementalRevenue .ExpectedCost) 2}}</td></tr>
{{end}}</tbody></table></div>
`)

var featuredTmpl = parse("featured", `<p>The products each treated user's promotion features (<code>recommended_items</code>), counted per segment: the five most featured products and categories.</p>
<div class="scroll"><table>
<thead><tr><th>segment</th><th class="num">users</th><th>products</th><th>categories</th></tr></thead>
<tbody>{{range .}}<tr><td>{{.Segment}}</td><td class="num">{{int .Users}}</td><td>{{range $i, $p := .Products}}{{if $i}}, {{end}}{{$p.Name}} ({{int $p.Users}}){{end}}</td><td>{{range $i, $c := .Categories}}{{if $i}}, {{end}}{{$c.Name}} ({{int $c.Users}}){{end}}</td></tr>
{{end}}</tbody></table></div>
`)

var topicsTmpl = parse("topics", `<p>Topics found in users' texts (LDA, online variational Bayes): each topic's top words, and each segment's dominant topics with their mean share of its users' texts.</p>
<ol start="0">{{range .Words}}<li>{{range $i, $w := .}}{{if $i}}, {{end}}{{$w}}{{end}}</li>{{end}}</ol>
{{with .Segments}}<div class="scroll"><table>
<thead><tr><th>segment</th><th>dominant topics</th></tr></thead>
<tbody>{{range .}}{{$s := .}}<tr><td>{{.Segment}}</td><td>{{range $i, $t := .Topics}}{{if $i}}; {{end}}topic {{$t}} ({{pct (index $s.Shares $i)}}){{end}}</td></tr>
{{end}}</tbody></table></div>{{end}}
`)

var budgetTmpl = parse("budget", `{{if gt .Budget.Total 0}}<p>Used <b>{{money .Budget.Used}}</b> of <b>{{money .Budget.Total}}</b> ({{pct .Share}})</p>
<div class="meter" role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow="{{.Bar}}"><div style="width:{{.Bar}}%"></div></div>
{{else}}<p>No budget set; the plan's expected cost is <b>{{money .Cost}}</b>.</p>{{end}}
{{with .Notes}}<h3>Guards</h3><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
`)

var liftTmpl = parse("lift", `<figure>{{.Chart}}</figure>
{{if .Beyond}}<p>The plan targets the best {{int .Plan.Users}} users (the marked point): {{money .Plan.Revenue}} of expected incremental revenue at a cost of {{money .Plan.Cost}}. Every offer worth its cost ({{int .Last.Users}} users) would bring {{money .Last.Revenue}} at a cost of {{money .Last.Cost}}.</p>
{{else}}<p>Targeting all {{int .Last.Users}} offered users is expected to bring {{money .Last.Revenue}} of incremental revenue at a cost of {{money .Last.Cost}}; the best {{int .Half.Users}} users ({{share .Half.Users .Last.Users}}) bring half of it.</p>
{{end}}`)

var fairnessTmpl = parse("fairness", `<p>Sensitive attribute <b>{{.Attribute}}</b> (audited only, never a model feature). Largest offer-rate gap between groups: <b>{{pct .Gap}}</b>{{if gt .Bound 0}}, bound {{pct .Bound}}: {{if gt .Gap .Bound}}<span class="bad">exceeded</span>{{else}}<span class="ok">within</span>{{end}}{{end}}.</p>
<div class="scroll"><table>
<thead><tr><th>group</th><th class="num">eligible users</th><th class="num">offered</th><th class="num">offer rate</th><th class="num">avg discount</th></tr></thead>
<tbody>{{range .Groups}}<tr><td>{{.Name}}</td><td class="num">{{int .Users}}</td><td class="num">{{int .Offered}}</td><td class="num">{{share .Offered .Users}}</td><td class="num">{{money .AvgDiscount}}</td></tr>
{{end}}</tbody></table></div>
`)

var approvalTmpl = parse("approval", `<p>Status: <b class="{{if eq .Status "approved"}}ok{{else}}bad{{end}}">{{.Status}}</b>{{with .By}} by {{.}}{{end}}{{if not .At.IsZero}} at {{.At.UTC.Format "2006-01-02 15:04 UTC"}}{{end}}.</p>
{{with .Reason}}<p>Asked because: {{.}}.</p>{{end}}
{{with .Comment}}<blockquote>{{.}}</blockquote>{{end}}
`)

var measurabilityTmpl = parse("measurability", `{{if .Measurable}}<p class="ok">Measurable.</p>{{else}}<p class="bad">Not measurable{{if eq .Action "approve"}}: the template waits for a reviewer's approval before publishing{{else}}: the template publishes anyway{{end}}.</p>{{end}}
<p>{{.Detail}}.</p>
<div class="scroll"><table>
<thead><tr><th></th><th class="num">users</th><th class="num">expected response rate</th></tr></thead>
<tbody><tr><td>control (held out from an offer; {{int .HeldOut}} held out in all)</td><td class="num">{{int .Control}}</td><td class="num">{{pct .ControlRate}}</td></tr>
<tr><td>treated</td><td class="num">{{int .Treated}}</td><td class="num">{{pct .TreatedRate}}</td></tr></tbody></table></div>
<p class="tags">Minimum detectable lift: {{with .MDL}}<b>{{points .}}</b>{{else}}none (a group is empty){{end}}, the smallest difference in response rate between treated and control users that a two-sided test at the 5% level finds 80% of the time, from the groups' sizes and expected response rates (the treated users' propensities, and those plus their expected lift; docs/EVALUATION.md). Expected lift {{pp .ExpectedLift}}.{{if .MinControl}} The template keeps at least {{.MinControl}} control users{{if .ToppedUp}}; the control share alone held fewer, so users were added at random to reach it{{end}}.{{end}}</p>
`)

var evalSummaryTmpl = parse("eval-summary", `<p>Against the control group, the offers brought <b>{{money .Revenue.Value}}</b> of incremental revenue ({{cim .Revenue}}): {{.RevenueVerdict}}.
They moved the response rate from {{pct .Overall.Control.Rate}} (control) to {{pct .Overall.Treated.Rate}} (treated), <b>{{pp .Overall.ResponseLift.Value}}</b>, {{.Buyers}}: {{.ResponseVerdict}}.</p>
<p>Redemptions cost <b>{{money .Overall.Cost}}</b>; after the margin, the incremental profit is <b>{{money .Overall.IncrementalProfit}}</b>{{if gt .Overall.Cost 0}}, {{fixed .Overall.ROI 2}} per unit of cost{{end}}.
The Qini of the predictions is {{fixed .Qini 3}}{{if gt .Qini 0}}: the users predicted to gain most did gain more than the rest{{else}}: ranking users by the prediction did no better than chance{{end}}.</p>
`)

// effectHead and effectCells are the columns shared by the offer and the
// segment tables.
const effectHead = `<th class="num">treated /<br>control</th><th class="num">response<br>treated / control</th><th class="num">response lift<br>(95% CI)</th><th class="num">revenue lift<br>per user (95% CI)</th><th class="num">predicted<br>per user</th><th class="num">cost</th><th class="num">profit</th><th class="num">ROI</th>`

const effectCells = `{{with .E}}<td class="num">{{int .Treated.N}} / {{int .Control.N}}</td><td class="num">{{pct .Treated.Rate}} / {{pct .Control.Rate}}</td>` +
	`<td class="num">{{pp .ResponseLift.Value}}<div class="tags">{{cis .ResponseLift}}</div></td>` +
	`<td class="num">{{money .RevenueLift.Value}}<div class="tags">{{cism .RevenueLift}}</div></td>` +
	`<td class="num">{{money .Predicted}}</td><td class="num">{{money .Cost}}</td><td class="num">{{money .IncrementalProfit}}</td><td class="num">{{fixed .ROI 2}}</td>{{end}}`

var evalOffersTmpl = parse("eval-offers", `{{with .Chart}}<figure>{{.}}</figure>{{else}}<p class="empty">No offer had enough control users for an interval.</p>{{end}}
<p class="tags">{{with .Unmeasured}}Not charted, too few control users to measure: {{range $i, $o := .}}{{if $i}}, {{end}}{{$o}}{{end}}. {{end}}Each bar is the offer's response rate among treated users minus its control group's; the black mark is the 95% interval. A mark crossing zero means the offer's effect is not yet distinguishable from none.</p>
<div class="scroll"><table>
<thead><tr><th>offer</th>`+effectHead+`</tr></thead>
<tbody>{{range .Rows}}<tr><td>{{.Offer}}</td>`+effectCells+`</tr>
{{end}}</tbody></table></div>
`)

var evalSegmentsTmpl = parse("eval-segments", `<div class="scroll"><table>
<thead><tr><th>segment</th><th>offer</th>`+effectHead+`</tr></thead>
<tbody>{{range .}}<tr><td>{{.Segment}}</td><td>{{.Offer}}</td>`+effectCells+`</tr>
{{end}}</tbody></table></div>
`)

var evalCalibrationTmpl = parse("eval-calibration", `{{with .Chart}}<figure>{{.}}</figure>{{else}}<p class="empty">No bin has both treated and control users: nothing to chart.</p>{{end}}
<p class="tags">Users with an offer are split into equal bins by the plan's predicted incremental revenue. A bin on the dashed diagonal got what was predicted; above it, more; below it, less.{{if .Skipped}} Not charted: {{.Skipped}} bin(s) without treated or without control users.{{end}}</p>
<div class="scroll"><table>
<thead><tr><th class="num">predicted<br>range</th><th class="num">predicted<br>per user</th><th class="num">realised per user<br>(95% CI)</th><th class="num">treated</th><th class="num">control</th></tr></thead>
<tbody>{{range .Bins}}<tr><td class="num">{{money .PredictedLo}} to {{money .PredictedHi}}</td><td class="num">{{money .Predicted}}</td><td class="num">{{money .Realised.Value}}<div class="tags">{{cism .Realised}}</div></td><td class="num">{{int .Treated}}</td><td class="num">{{int .Control}}</td></tr>
{{end}}</tbody></table></div>
`)

var overviewLiftTmpl = parse("overview-lift", `<figure>{{.}}</figure>
<p class="tags">One bar per evaluated campaign, numbered in window order (the table below names them): the response rate of treated users minus that of their control group, with its 95% interval. A loop that learns moves the bars up and keeps the intervals clear of zero.</p>
`)

var overviewMoneyTmpl = parse("overview-money", `<figure>{{.Chart}}</figure>
<div class="scroll"><table>
<thead><tr><th>#</th><th>campaign</th><th class="num">incremental revenue<br>(95% CI)</th><th class="num">cost /<br>planned / budget</th><th class="num">profit</th><th class="num">ROI</th></tr></thead>
<tbody>{{range $i, $c := .Campaigns}}<tr><td>{{inc $i}}</td><td>{{.Campaign}}</td><td class="num">{{money .IncrementalRevenue.Value}}<div class="tags">{{cism .IncrementalRevenue}}</div></td><td class="num">{{money .Cost}} / {{money .PlannedCost}} / {{if gt .Budget 0}}{{money .Budget}}{{else}}none{{end}}</td><td class="num">{{money .IncrementalProfit}}</td><td class="num">{{fixed .ROI 2}}</td></tr>
{{end}}</tbody></table></div>
<p class="tags">Cost is what responders redeemed; planned is the plan's expected cost, which the budget bounds.</p>
`)

var overviewWeeksTmpl = parse("overview-weeks", `<div class="scroll"><table>
<thead><tr><th>#</th><th>campaign</th><th class="num">window</th><th class="num">treated /<br>control</th><th class="num">response lift<br>(95% CI)</th><th class="num">incremental revenue<br>(95% CI)</th><th class="num">spend /<br>budget</th><th class="num">ROI</th><th class="num">exploration<br>share</th><th>learner<br>(CV policy value)</th><th class="num">min. detectable<br>lift</th></tr></thead>
<tbody>{{range .}}{{$r := .}}<tr id="week-{{.Campaign}}"><td>{{if .Evaluated}}{{.N}}{{else}}live{{end}}</td><td>{{.Campaign}}</td><td class="num">{{if not .Start.IsZero}}{{.Start.UTC.Format "2006-01-02"}}<div class="tags">to {{.End.UTC.Format "2006-01-02"}}</div>{{end}}</td>
{{if .Evaluated}}<td class="num" data-k="groups">{{int .Treated}} / {{int .Control}}</td><td class="num" data-k="lift">{{pp .ResponseLift.Value}}<div class="tags">{{cis .ResponseLift}}</div></td><td class="num" data-k="revenue">{{money .IncrementalRevenue.Value}}<div class="tags">{{cism .IncrementalRevenue}}</div></td><td class="num" data-k="spend">{{money .Cost}} / {{if gt .Budget 0}}{{money .Budget}}{{else}}none{{end}}</td><td class="num" data-k="roi">{{fixed .ROI 2}}</td>
{{else}}<td class="num" data-k="groups">{{int .PlanTreated}} / {{int .PlanControl}}</td><td class="num" colspan="2">not evaluated yet; expected revenue {{money .ExpectedRevenue}}</td><td class="num" data-k="spend">{{money .PlannedCost}} planned / {{if gt .Budget 0}}{{money .Budget}}{{else}}none{{end}}</td><td class="num">-</td>
{{end}}<td class="num" data-k="explore">{{pct .ExploreShare}}</td><td data-k="learner">{{with .Learner}}{{.}} ({{fixed $r.CVPolicyValue 4}}){{else}}none{{end}}</td><td class="num" data-k="mdl">{{if .HasMDL}}{{with .MDL}}{{points .}}{{else}}none{{end}}{{if not .Measurable}} <span class="bad">not measurable</span>{{end}}{{else}}-{{end}}</td></tr>
{{end}}</tbody></table></div>
<p class="tags">Spend is what responders redeemed (planned cost for live campaigns). Exploration share: treated users given a random offer. The learner is the uplift model the decision used, chosen by cross-validated policy value (incremental response per user); none when there was too little history. The minimum detectable lift was stated before publishing (80% power, 5% level).</p>
`)

var overviewEffectsTmpl = parse("overview-effects", `<p class="tags">What the adjustment state learned after each evaluation: each offer's response effect per segment (incremental purchase probability per treated user, shrunk toward the offer's global effect), with its 95% interval. Intervals that narrow over the versions are the loop learning.</p>
{{range .Offers}}<figure>{{.Chart}}</figure>
<div class="scroll"><table>
<thead><tr><th>{{.Offer}}: segment</th><th class="num">latest effect</th><th class="num">95% interval</th><th class="num">treated users</th><th class="num">version</th></tr></thead>
<tbody>{{range .Rows}}<tr><td>{{.Segment}}</td><td class="num">{{pp .Latest.Response}}</td><td class="num">{{cis .Interval}}</td><td class="num">{{int .Latest.N}}</td><td class="num">{{.Latest.Version}}</td></tr>
{{end}}</tbody></table></div>
{{end}}`)

var overviewChangesTmpl = parse("overview-changes", `<div class="scroll"><table>
<thead><tr><th class="num">version</th><th>evaluation of</th><th>retired</th><th>restored</th><th>promoted</th></tr></thead>
<tbody>{{range .}}<tr><td class="num">{{.Version}}</td><td>{{.Campaign}}</td><td>{{join .Retired}}</td><td>{{join .Restored}}</td><td>{{join .Promoted}}</td></tr>
{{end}}</tbody></table></div>
<p class="tags">Retired: the offer's global response lift has its 95% interval below zero; the decision stops offering it. Promoted: its interval moved above zero, a measured gain. Restored: a retired offer whose interval no longer lies below zero.</p>
`)

var overviewLiveTmpl = parse("overview-live", `<div class="scroll"><table>
<thead><tr><th>campaign</th><th>window</th><th class="num">treated /<br>control</th><th class="num">expected incr.<br>revenue</th><th class="num">expected cost /<br>budget</th><th class="num">min. detectable<br>lift</th></tr></thead>
<tbody>{{range .}}<tr><td>{{.Campaign}}</td><td>{{if not .Start.IsZero}}{{.Start.UTC.Format "2006-01-02"}} to {{.End.UTC.Format "2006-01-02"}}{{end}}</td><td class="num">{{int .PlanTreated}} / {{int .PlanControl}}</td><td class="num">{{money .ExpectedRevenue}}</td><td class="num">{{money .PlannedCost}} / {{if gt .Budget 0}}{{money .Budget}}{{else}}none{{end}}</td><td class="num">{{if .HasMDL}}{{with .MDL}}{{points .}}{{else}}none{{end}}{{if not .Measurable}} <span class="bad">not measurable</span>{{end}}{{else}}-{{end}}</td></tr>
{{end}}</tbody></table></div>
<p class="tags">Published campaigns whose evaluation has not arrived: their plan's figures. They join the charts above once evaluated.</p>
`)
