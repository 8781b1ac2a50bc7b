package layout

// Keys of a campaign's published summaries and of a template's overview
// (docs/EVALUATION.md, "The template overview").

// CampaignSummary is a published campaign's summary.json: the run's
// summary, its decision's included.
func CampaignSummary(campaign string) string { return Campaign(campaign) + "summary.json" }

// EvaluationSummary is a campaign's evaluation summary.json.
func EvaluationSummary(campaign string) string {
	return Campaign(campaign) + "evaluation/summary.json"
}

// EvaluationReport is a campaign's evaluation report.html.
func EvaluationReport(campaign string) string {
	return Campaign(campaign) + "evaluation/report.html"
}

// StateDir holds a template's adjustment states: latest.json and one
// v<version>.json per evaluation.
func StateDir(template string) string { return "state/" + template + "/" }

// TemplateReports is the prefix of a template's overview.
func TemplateReports(template string) string { return "reports/" + template + "/" }

// TemplateOverview is a template's overview page: every campaign of the
// template, measured and live, on one page.
func TemplateOverview(template string) string { return TemplateReports(template) + "index.html" }

// TemplateCampaigns lists a template's published campaigns: one empty
// object per campaign, named after it, written with its summary, so the
// overview finds campaigns not evaluated yet.
func TemplateCampaigns(template string) string { return TemplateReports(template) + "campaigns/" }

// TemplateCampaign is campaign's entry in TemplateCampaigns.
func TemplateCampaign(template, campaign string) string {
	return TemplateCampaigns(template) + campaign
}
