package activities

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/live"
)

// TestLiveLogAndPublish: parts written by LiveFlush read back in (slice,
// seq) order; LivePublish writes one plan row per user and a summary naming
// the run; a decision logged twice is an error, never counted twice.
func TestLiveLogAndPublish(t *testing.T) {
	ctx := context.Background()
	store := blob.NewMem()
	acts := &Activities{Store: store}
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	parts := [][]live.Decision{
		{{Slice: 1, Seq: 1, UserID: "b", Offer: "coupon5", Cost: 2.5, Probability: 0.9}, {Slice: 1, Seq: 2, UserID: "b", Offer: campaign.None, Capped: true, Probability: 1}},
		{{Slice: 0, Seq: 1, UserID: "a", Offer: campaign.None, Control: true, Holdout: "coupon5", Probability: 0.1}},
		{{Slice: 0, Seq: 2, UserID: "c", Offer: "coupon5", Cost: 1.5, Probability: 0.9}},
	}
	for i, p := range parts {
		n, err := acts.LiveFlush(ctx, LiveFlushInput{Key: layout.LiveDecisionPart("c1", p[0].Slice, int64(i)), Decisions: p})
		if err != nil || n != len(p) {
			t.Fatalf("flush %d: %d, %v", i, n, err)
		}
	}
	ds, err := ReadLiveDecisions(ctx, store, "c1")
	if err != nil || len(ds) != 4 || ds[0].UserID != "a" || ds[1].UserID != "c" || ds[2].UserID != "b" {
		t.Fatalf("decisions %+v, %v", ds, err)
	}
	out, err := acts.LivePublish(ctx, LivePublishInput{Campaign: "c1", Template: "weekly", RunID: "r1", Start: t0, End: t0.Add(time.Hour), Budget: 10, Slices: 2})
	if err != nil {
		t.Fatal(err)
	}
	if out.Decisions != 4 || out.Rows != 3 || out.Offers != 2 || out.Control != 1 || out.Cost != 4 {
		t.Errorf("published %+v", out)
	}
	run, err := acts.campaignRun(ctx, "c1")
	if err != nil || run != "r1" {
		t.Errorf("campaign run %q, %v", run, err)
	}
	csv, _ := store.Get(ctx, layout.Campaign("c1")+"plan.csv")
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[2], "b,,coupon5,") {
		t.Errorf("plan.csv:\n%s", csv)
	}
	// The same decision in a second part: refused.
	if _, err := acts.LiveFlush(ctx, LiveFlushInput{Key: layout.LiveDecisionPart("c1", 0, 9), Decisions: parts[2]}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLiveDecisions(ctx, store, "c1"); err == nil || !strings.Contains(err.Error(), "logged twice") {
		t.Errorf("a decision logged twice: %v", err)
	}
}
