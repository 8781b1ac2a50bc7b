package workflows_test

import (
	"context"
	"fmt"
	"image/color"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/browser"
	"github.com/promoflow/promoflow/internal/synth"
	"github.com/promoflow/promoflow/internal/testenv"
	"github.com/promoflow/promoflow/workflows"
)

// TestUIFindsRunBySearchAttribute is the operator's path: headless Chromium
// opens the Temporal UI of the test stack, lists the runs through a
// visibility query on the CampaignTemplate and CampaignId search
// attributes, opens the finished regeneration and shows its event history.
// Skipped without Chromium unless PROMOFLOW_REQUIRE_BROWSER=1.
func TestUIFindsRunBySearchAttribute(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and a browser")
	}
	if _, err := browser.Find(); err != nil && os.Getenv(browser.RequireEnv) != "1" {
		t.Skip(err)
	}
	t.Setenv("PROMOFLOW_TEST_UI", "1")
	ctx := context.Background()
	stack := testenv.Start(t)
	store := stack.Store(t)
	path := filepath.Join(t.TempDir(), "events.csv.gz")
	_, err := synth.WriteFile(path, synth.Config{Users: 300, Seed: 4})
	must(t, err)
	must(t, store.PutFile(ctx, "raw/ui/events.csv.gz", path))
	c := stack.TemporalClient(t)
	w := workflows.NewWorker(c, "promoflow-ui", &activities.Activities{Store: store, TempDir: t.TempDir()}, worker.Options{})
	must(t, w.Start())
	defer w.Stop()
	const id = "uitest-2026-W48"
	wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "promoflow-ui"}, workflows.Regenerate,
		workflows.RegenerateInput{RunID: id, Template: "weekly", Campaign: id, Inputs: []string{"raw/ui/events.csv.gz"}, Shards: 2, K: 3, Seed: 1})
	must(t, err)
	must(t, wr.Get(ctx, nil))

	b := browser.Start(t, browser.Options{Timeout: 2 * time.Minute})
	// waitText polls the page's text until it holds every want.
	waitText := func(what string, want ...string) string {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		var text string
		for time.Now().Before(deadline) {
			text, err = chromedp.Run(b.Context(), chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
			ok := err == nil
			for _, w := range want {
				ok = ok && strings.Contains(text, w)
			}
			if ok {
				return text
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("%s: page never showed %q; it shows:\n%.2000s", what, want, text)
		return ""
	}
	query := url.QueryEscape(fmt.Sprintf(`CampaignTemplate="weekly" AND CampaignId=%q`, id))
	must(t, b.Open(fmt.Sprintf("%s/namespaces/%s/workflows?query=%s", stack.UIURL, stack.Namespace, query)))
	waitText("runs of template weekly, campaign "+id, id, "Regenerate")

	must(t, b.Open(fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", stack.UIURL, stack.Namespace, id, wr.GetRunID())))
	text := waitText("event history", id, "Completed", "Event History", "Regenerate")
	shot, err := b.Screenshot()
	must(t, err)
	scale, err := b.Scale()
	must(t, err)
	ink, err := browser.Ink(shot, browser.Rect{Width: 1280, Height: 900}, scale, color.White)
	must(t, err)
	if ink < 0.02 {
		t.Errorf("history page is nearly blank: %.3f of pixels inked", ink)
	}
	if dir := os.Getenv(browser.ScreenshotDirEnv); dir != "" {
		must(t, os.WriteFile(filepath.Join(dir, "temporal-ui-history.png"), shot, 0o644))
	}
	t.Logf("history page: %.0f%% inked, %d characters of text", 100*ink, len(text))
}

// TestTestenvRegistersSearchAttributes keeps the test harness's dev server
// flags in step with the search attributes the workflows upsert.
func TestTestenvRegistersSearchAttributes(t *testing.T) {
	types := map[enums.IndexedValueType]string{enums.INDEXED_VALUE_TYPE_KEYWORD: "Keyword", enums.INDEXED_VALUE_TYPE_DOUBLE: "Double"}
	want := map[string]bool{}
	for name, typ := range workflows.SearchAttributeTypes() {
		want[name+"="+types[typ]] = true
	}
	got := map[string]bool{}
	for _, sa := range testenv.SearchAttributes {
		got[sa] = true
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("testenv registers %v, workflows use %v", got, want)
	}
	// make up registers them too (scripts/stack.sh SEARCH_ATTRIBUTES=(...)).
	script, err := os.ReadFile("../scripts/stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SEARCH_ATTRIBUTES=\(([^)]*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("scripts/stack.sh: no SEARCH_ATTRIBUTES=(...) line")
	}
	stack := map[string]bool{}
	for _, sa := range strings.Fields(string(m[1])) {
		stack[sa] = true
	}
	if fmt.Sprint(stack) != fmt.Sprint(want) {
		t.Errorf("scripts/stack.sh registers %v, workflows use %v", stack, want)
	}
}
