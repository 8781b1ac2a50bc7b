package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// A workflow run that repeats rounds (k-means|| and Lloyd iterations in
// Segment) continues as new before a round that could take its history past
// these: below Temporal's warning thresholds (10,240 events, 10 MB), with
// room for the run's last commands (docs/PERFORMANCE.md, "Scale").
const (
	HistoryEvents = 9000
	HistoryBytes  = 8 << 20
)

// fanOutEvents is the most events a fan-out of n activities adds to a
// history: each activity's scheduled, started and completed events and, at
// worst, a workflow task of its own (scheduled, started, completed); one
// more activity (a gather or a reduce) rides along.
func fanOutEvents(n int) int { return 6 * (n + 1) }

// historyRoom tracks a run's history growth per round and says whether
// one more round fits under HistoryEvents and HistoryBytes. Temporal
// records the history's length and size in every workflow task, so the
// answer is the same on replay.
type historyRoom struct {
	roundBytes int // the most bytes a round of this run added
	start      int // the history's bytes when the round began
}

// begin marks the start of a round.
func (h *historyRoom) begin(ctx workflow.Context) {
	h.start = workflow.GetInfo(ctx).GetCurrentHistorySize()
}

// end records the bytes the round added.
func (h *historyRoom) end(ctx workflow.Context) {
	h.roundBytes = max(h.roundBytes, workflow.GetInfo(ctx).GetCurrentHistorySize()-h.start)
}

// fits reports whether a round of at most events events and the largest
// round's bytes fits in the run's history.
func (h *historyRoom) fits(ctx workflow.Context, events int) bool {
	info := workflow.GetInfo(ctx)
	return info.GetCurrentHistoryLength()+events <= HistoryEvents &&
		info.GetCurrentHistorySize()+h.roundBytes <= HistoryBytes
}
