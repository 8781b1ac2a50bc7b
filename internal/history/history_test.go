package history

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/evaluate"
)

func TestFromPlanWriteRead(t *testing.T) {
	start := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 7)
	rows := []evaluate.Row{
		{UserID: "u1", Offer: "coupon5", AssignmentProbability: 0.76, Responded: true, Conversions: 2, Revenue: 80},
		{UserID: "u2", Offer: "coupon5", Control: true, AssignmentProbability: 0.2},
		{UserID: "u3", Offer: "discount10", Explore: true, AssignmentProbability: 0.01, Responded: true, Conversions: 1, Revenue: 12.5},
		{UserID: "u4", Offer: campaign.None, AssignmentProbability: 0.96},
		{UserID: "u5", Offer: campaign.None, AssignmentProbability: 1}, // outside the audience
	}
	got, skipped, err := FromPlan(rows, "weekly-2026-W49", "weekly-run", start, end)
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 1 || len(got) != 4 {
		t.Fatalf("%d rows, %d skipped; want 4 and 1", len(got), skipped)
	}
	wantArms := []string{"coupon5", ControlArm, "discount10", ControlArm}
	for i, r := range got {
		if r.Arm != wantArms[i] || r.Campaign != "weekly-2026-W49" || r.RunID != "weekly-run" || !r.WindowEnd.Equal(end) {
			t.Errorf("row %d = %+v", i, r)
		}
	}
	if !got[1].Holdout || got[3].Holdout || !got[2].Explore {
		t.Errorf("holdout/explore flags: %+v", got)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var a, b bytes.Buffer
	if err := Write(&a, got, mem); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, got, mem); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same rows, different bytes")
	}
	back, err := Read(a.Bytes(), mem)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(got) {
		t.Fatalf("read %d rows, wrote %d", len(back), len(got))
	}
	for i := range got {
		if back[i] != got[i] {
			t.Errorf("row %d: read %+v, wrote %+v", i, back[i], got[i])
		}
	}
}

func TestFromPlanRejectsMissingProbability(t *testing.T) {
	_, _, err := FromPlan([]evaluate.Row{{UserID: "u1", Offer: "coupon5", AssignmentProbability: math.NaN()}}, "c", "r", time.Time{}, time.Time{})
	if !errors.Is(err, ErrNoProbabilities) {
		t.Fatal("a plan without probabilities fed the history")
	}
}
