package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/strategy"
)

// TestReportCommand runs `starter report --template T` against versitygw:
// it writes reports/<T>/index.html from the published campaigns listed
// under the template and prints the page's address; a campaign of another
// template is left off, and a missing --template is a usage error.
func TestReportCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	ctx := context.Background()
	stack, _ := startStack(t, false)
	store := stack.Store(t)
	for _, c := range []struct{ id, tmpl string }{{"weekly-2026-W50", "weekly"}, {"holiday-xmas", "holiday"}} {
		sum, err := json.Marshal(map[string]any{"campaign": c.id, "template": c.tmpl,
			"strategy": strategy.Summary{Audience: strategy.Audience{Treated: 90, Control: 10}}})
		must(t, err)
		must(t, store.Put(ctx, layout.CampaignSummary(c.id), sum))
		must(t, store.Put(ctx, layout.TemplateCampaign(c.tmpl, c.id), nil))
	}
	out := cliRunner(t, ctx)("report", "--template", "weekly")
	if want := store.URL(layout.TemplateOverview("weekly")); strings.TrimSpace(out) != want {
		t.Errorf("printed %q, want %q", out, want)
	}
	page, err := store.Get(ctx, layout.TemplateOverview("weekly"))
	must(t, err)
	if !strings.Contains(string(page), `id="week-weekly-2026-W50"`) || strings.Contains(string(page), "holiday-xmas") {
		t.Error("the page does not list exactly the weekly campaign")
	}
	var stdout, stderr bytes.Buffer
	if code := dispatch(ctx, []string{"report"}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "usage: starter report --template T") {
		t.Errorf("report without --template: exit %d, %s", code, stderr.String())
	}
}
