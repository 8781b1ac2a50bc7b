package layout

import "fmt"

// Live is the prefix of a live campaign's own objects (its decision log
// and pinned state); what it publishes goes under Campaign like a batch
// campaign's.
func Live(campaign string) string { return "live/" + campaign + "/" }

// LiveDecisions holds a live campaign's decision log: every decision of
// every budget slice, in parts the slices write as they go.
func LiveDecisions(campaign string) string { return Live(campaign) + "decisions/" }

// LiveDecisionPart is part n of slice i's decision log (JSON Lines of
// live.Decision). The slice workflow numbers its parts in its durable
// state, so a retried write overwrites the same part.
func LiveDecisionPart(campaign string, slice int, n int64) string {
	return fmt.Sprintf("%sslice=%03d/part-%08d.jsonl", LiveDecisions(campaign), slice, n)
}

// LiveState is a live campaign's copy of its template's adjustment state,
// pinned at its start so every decision sees the same version.
func LiveState(campaign string) string { return Live(campaign) + "state.json" }
