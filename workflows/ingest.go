package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
)

// ingest parses every input object, one activity each, and sets the run's
// time range: End is the latest accepted event, the cutoff HorizonDays
// before it unless given.
func (r *run) ingest(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageIngest, len(in.Inputs))
	ingested := make([]activities.IngestOutput, len(in.Inputs))
	err := fanOut(ctx, len(in.Inputs), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(withHeartbeat(ctx), a.Ingest, activities.IngestInput{
				RunID: in.RunID, Key: in.Inputs[i], Index: i, Shards: in.Shards,
			})
		},
		func(i int, f workflow.Future) error {
			r.track.step(StageIngest)
			return f.Get(ctx, &ingested[i])
		})
	if err != nil {
		return err
	}
	tot := IngestTotals{ByReason: map[string]int64{}}
	var end time.Time
	for _, o := range ingested {
		res := o.Result
		tot.RowsRead += res.RowsRead
		tot.Accepted += res.Accepted
		tot.Duplicates += res.Duplicates
		tot.Rejected += res.Rejected
		for k, v := range res.ByReason {
			tot.ByReason[k] += v
		}
		tot.Sources = append(tot.Sources, res)
		tot.Rejects = append(tot.Rejects, o.Rejects)
		if res.MaxTS.After(end) {
			end = res.MaxTS
		}
	}
	r.sum.Ingest, r.sum.InputRows = tot, tot.RowsRead
	if tot.Accepted == 0 {
		return fmt.Errorf("none of %d rows accepted (%v)", tot.RowsRead, tot.ByReason)
	}
	horizon := time.Duration(in.HorizonDays) * 24 * time.Hour
	r.end, r.cutoff = end, end.Add(-horizon)
	if !in.Cutoff.IsZero() {
		if !in.Cutoff.Before(end) {
			return fmt.Errorf("cutoff %s is not before the last event %s", in.Cutoff.Format(time.RFC3339), end.Format(time.RFC3339))
		}
		r.cutoff = in.Cutoff
	}
	r.sum.Cutoff, r.sum.End = r.cutoff, r.end
	return nil
}
