package activities

import (
	"context"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/blob"
	"github.com/promoflow/promoflow/internal/layout"
)

// TestDeleteStaged ingests an input in several splits, deletes the run's
// staging and checks that only runs/<run>/ingest/ went: the events and
// rejects the later stages and operators read are still there, and the
// events still read back whole; another run's staging is untouched.
func TestDeleteStaged(t *testing.T) {
	store := blob.NewMem()
	ctx := context.Background()
	must(t, store.Put(ctx, "raw/t/dup.csv", []byte(dupEvents(300))))
	env, acts := newEnv(store)
	runIngestWith(t, env, acts, "r", "", 3, ingestOpts{splitBytes: 2048, chunkRows: 50}, "raw/t/dup.csv")
	must(t, store.Put(ctx, layout.IngestDir("r2")+"x.arrow", []byte("other run")))
	before, err := store.List(ctx, "runs/r/")
	must(t, err)
	staged, err := store.List(ctx, layout.IngestDir("r"))
	must(t, err)
	if len(staged) < 10 {
		t.Fatalf("%d staged objects, want several splits' worth: %q", len(staged), staged)
	}

	v, err := env.ExecuteActivity(acts.DeleteStaged, DeleteStagedInput{RunID: "r"})
	must(t, err)
	var out DeleteStagedOutput
	must(t, v.Get(&out))
	if out.Objects != len(staged) {
		t.Errorf("deleted %d objects, want the %d staged", out.Objects, len(staged))
	}
	after, err := store.List(ctx, "runs/r/")
	must(t, err)
	if len(after) != len(before)-len(staged) {
		t.Errorf("%d objects left of %d, want %d", len(after), len(before), len(before)-len(staged))
	}
	rejects := false
	for _, k := range after {
		if strings.HasPrefix(k, layout.IngestDir("r")) {
			t.Errorf("%s left after DeleteStaged", k)
		}
		rejects = rejects || strings.HasPrefix(k, "runs/r/rejects/")
	}
	if !rejects {
		t.Errorf("rejects deleted with the staging: %q", after)
	}
	if ev := readEvents(t, store, "r", 3); len(ev) != 300 {
		t.Errorf("%d events read after DeleteStaged, want 300", len(ev))
	}
	if other, err := store.List(ctx, layout.IngestDir("r2")); err != nil || len(other) != 1 {
		t.Errorf("another run's staging: %q, %v", other, err)
	}

	v, err = env.ExecuteActivity(acts.DeleteStaged, DeleteStagedInput{RunID: "r"})
	must(t, err)
	must(t, v.Get(&out))
	if out.Objects != 0 {
		t.Errorf("second DeleteStaged deleted %d objects, want 0", out.Objects)
	}
	if _, err := env.ExecuteActivity(acts.DeleteStaged, DeleteStagedInput{}); err == nil || !strings.Contains(err.Error(), "no run id") {
		t.Errorf("DeleteStaged without a run id: %v", err)
	}
}
