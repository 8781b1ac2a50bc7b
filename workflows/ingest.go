package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/promoflow/promoflow/activities"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/ingest"
	"github.com/promoflow/promoflow/internal/shard"
)

// Ingest defaults.
const (
	// DefaultShards is the number of user shards of a run that does not
	// say (docs/PERFORMANCE.md, "Sizing shards": about one per 35,000 users).
	DefaultShards = 8
	// DefaultSimulateShards is the shards of a simulation's runs: its
	// worlds are small (thousands of users).
	DefaultSimulateShards = 4
	// DefaultSplitBytes is the size of a byte-range split of an
	// uncompressed input (and the target size of a group of Parquet row
	// groups): the unit of parallelism of ingest.
	DefaultSplitBytes = 64 << 20
	// DefaultSplitsPerChild is the most splits one workflow run stages:
	// above it, IngestSplits child workflows stage blocks of splits, so a
	// history holds about 5 events per split (a child's under 10,240
	// events) whatever the input's size.
	DefaultSplitsPerChild = 1000
	// DefaultChunkRows is the number of records after which a split
	// uploads what it staged and heartbeats its position: the work a
	// worker's death can cost.
	DefaultChunkRows = 1 << 18
)

// IngestInput configures an ingest: the Ingest workflow's input, and the
// part of RegenerateInput the ingest stage uses.
type IngestInput struct {
	RunID   string
	Inputs  []string // raw/... keys
	Mapping string   // mapping YAML (internal/mapping); empty means canonical events
	Shards  int
	// ShardBlocks is the most finalize activities per table: user shards
	// are finalized in blocks (shard.Blocks), plus one for rows without a
	// user. DefaultShardBlocks when zero.
	ShardBlocks int
	Window      int   // activities in flight
	SplitBytes  int64 // DefaultSplitBytes when zero
	ChunkRows   int   // DefaultChunkRows when zero
	// SplitsPerChild is the most splits staged in this workflow's own
	// history (DefaultSplitsPerChild when zero); more are staged by
	// IngestSplits children.
	SplitsPerChild int
	// NotAfter is the latest event time accepted (activities.IngestSplitInput.NotAfter);
	// zero means no limit.
	NotAfter time.Time
}

func (in *IngestInput) defaults() {
	if in.Shards == 0 {
		in.Shards = DefaultShards
	}
	if in.Window == 0 {
		in.Window = DefaultWindow
	}
	if in.ShardBlocks == 0 {
		in.ShardBlocks = DefaultShardBlocks
	}
	if in.SplitBytes == 0 {
		in.SplitBytes = DefaultSplitBytes
	}
	if in.ChunkRows == 0 {
		in.ChunkRows = DefaultChunkRows
	}
	if in.SplitsPerChild == 0 {
		in.SplitsPerChild = DefaultSplitsPerChild
	}
}

// splitChildren is the version marker of staging in IngestSplits children
// (runs of more than SplitsPerChild splits recorded before it staged every
// split in their own history).
const splitChildren = "ingest-split-children"

// IngestSplitsInput is a block of splits for an IngestSplits child: the
// fields every split shares once, then each split's source and range.
type IngestSplitsInput struct {
	Base    activities.IngestSplitInput // RunID, Mapping, Shards, ChunkRows, NotAfter
	Sources []activities.IngestSource   // without their splits
	Splits  []SplitJob
	Window  int
}

// SplitJob is one split of an IngestSplitsInput: Sources[Source]'s split
// number Split.
type SplitJob struct {
	Source, Split int
	Range         ingest.Split
}

// IngestSplits stages a block of splits (an IngestSplit each, Window in
// flight) and returns their outputs in order: the split stage of an
// ingest with more splits than one history should hold.
func IngestSplits(ctx workflow.Context, in IngestSplitsInput) ([]activities.IngestSplitOutput, error) {
	hctx := withHeartbeat(ctx)
	out := make([]activities.IngestSplitOutput, len(in.Splits))
	err := fanOut(ctx, len(in.Splits), in.Window,
		func(i int) workflow.Future {
			j := in.Splits[i]
			sin := in.Base
			sin.Source, sin.Split, sin.Range = in.Sources[j.Source], j.Split, &j.Range
			return workflow.ExecuteActivity(hctx, a.IngestSplit, sin)
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &out[i]) })
	return out, err
}

// Ingest ingests a run's inputs into the canonical tables under
// runs/<run>/ and returns the row accounting: the ingest stage of
// Regenerate as a workflow of its own, for datasets that are not (only)
// events, such as profiles and campaign histories.
func Ingest(ctx workflow.Context, in IngestInput) (IngestTotals, error) {
	in.defaults()
	if in.RunID == "" || len(in.Inputs) == 0 {
		return IngestTotals{}, errors.New("ingest: run id and inputs are required")
	}
	tot, err := ingestAll(ctx, in, func(string, int, int) {})
	if err != nil {
		return tot, err
	}
	tot.StagedDeleted = deleteStaged(ctx, in.RunID)
	return tot, nil
}

// ingest is Regenerate's first stage: it ingests the inputs and sets the
// run's time range: End is the latest accepted event, the cutoff
// HorizonDays before it unless given.
func (r *run) ingest(ctx workflow.Context) error {
	in := r.in
	r.track.begin(StageIngest, len(in.Inputs))
	st := r.track.stage(StageIngest)
	tot, err := ingestAll(ctx, IngestInput{
		RunID: in.RunID, Inputs: in.Inputs, Mapping: in.Mapping, Shards: in.Shards, ShardBlocks: in.ShardBlocks,
		Window: in.Window, SplitBytes: in.SplitBytes, NotAfter: r.notAfter,
	}, func(phase string, done, total int) {
		st.Detail, st.Done, st.Total = phase, done, total
	})
	r.sum.Ingest, r.sum.InputRows = tot, tot.RowsRead
	if err != nil {
		return err
	}
	var end time.Time
	var users int64
	for _, res := range tot.Sources {
		if res.Table != canon.EventsName {
			continue
		}
		users += res.Accepted - res.AcceptedNoUser
		if res.Accepted > 0 && res.MaxTS.After(end) {
			end = res.MaxTS
		}
	}
	if users == 0 {
		return fmt.Errorf("no events with a user accepted from %d rows (%v)", tot.RowsRead, tot.ByReason)
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

// ingestAll runs the ingest driver (ingest.Driver: plan every input, a
// wrong mapping stopping before any fan-out; stage every split; finalize
// every block of every table, duplicates removed across splits and
// sources; write the rejects; reduce the counts in input order) as
// activities, Window in flight. progress reports the step and its units.
func ingestAll(ctx workflow.Context, in IngestInput, progress func(phase string, done, total int)) (IngestTotals, error) {
	in.defaults()
	hctx := withHeartbeat(ctx)
	actx := withActivityOptions(ctx)
	d, err := ingest.NewDriver(ingest.DriverConfig{Inputs: len(in.Inputs), Shards: in.Shards, ShardBlocks: in.ShardBlocks})
	if err != nil {
		return IngestTotals{}, err
	}
	// fan runs n activities of the driver's current step, reporting
	// progress as each ends.
	fan := func(n int, start func(i int) workflow.Future, get func(i int, f workflow.Future) error) error {
		phase, done := d.Step().String(), 0
		progress(phase, 0, n)
		return fanOut(ctx, n, in.Window, start, func(i int, f workflow.Future) error {
			done++
			progress(phase, done, n)
			return get(i, f)
		})
	}

	// Plan.
	plans := make([]activities.IngestPlanOutput, d.Inputs())
	err = fan(len(plans),
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(hctx, a.IngestPlan, activities.IngestPlanInput{
				RunID: in.RunID, Key: in.Inputs[i], Index: i, Mapping: in.Mapping, SplitBytes: in.SplitBytes,
			})
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &plans[i]) })
	if err != nil {
		return IngestTotals{}, err
	}
	planned := make([][]ingest.PlannedSource, len(plans))
	for i, p := range plans {
		planned[i] = p.Sources
	}
	if err := d.Planned(planned); err != nil {
		return IngestTotals{}, err
	}

	// Stage.
	splits, sources := d.Splits(), d.Sources()
	splitIn := func(i int) activities.IngestSplitInput {
		j := splits[i]
		// The split itself, not its source's list of splits: the
		// inputs would grow with the square of the splits.
		src := sources[j.Source]
		src.Splits = nil
		return activities.IngestSplitInput{
			RunID: in.RunID, Mapping: in.Mapping, Source: src, Split: j.Split, Range: &j.Range,
			Shards: in.Shards, ChunkRows: in.ChunkRows, NotAfter: in.NotAfter,
		}
	}
	splitOut := make([]ingest.Staged, len(splits))
	if len(splits) > in.SplitsPerChild && workflow.GetVersion(ctx, splitChildren, workflow.DefaultVersion, 1) == 1 {
		err = stageInChildren(ctx, in, splits, sources, splitIn, splitOut, progress)
	} else {
		err = fan(len(splits),
			func(i int) workflow.Future { return workflow.ExecuteActivity(hctx, a.IngestSplit, splitIn(i)) },
			func(i int, f workflow.Future) error { return f.Get(ctx, &splitOut[i]) })
	}
	if err != nil {
		return IngestTotals{}, err
	}
	if err := d.Staged(splitOut); err != nil {
		return IngestTotals{}, err
	}

	// Finalize.
	tasks := d.Finalizes()
	fin := make([]ingest.Finalized, len(tasks))
	err = fan(len(tasks),
		func(i int) workflow.Future {
			t := tasks[i]
			fi := activities.IngestFinalizeInput{
				RunID: in.RunID, Mapping: in.Mapping, Table: t.Table, Partition: t.From, Shards: in.Shards, Sources: t.Sources,
			}
			octx := actx
			if t.To-t.From > 1 {
				// A block finalizes its shards one after the other.
				fi.To, octx = t.To, hctx
			}
			return workflow.ExecuteActivity(octx, a.IngestFinalize, fi)
		},
		func(i int, f workflow.Future) error { return f.Get(ctx, &fin[i]) })
	if err != nil {
		return IngestTotals{}, err
	}
	if err := d.Finalized(fin); err != nil {
		return IngestTotals{}, err
	}

	// Rejects.
	progress(d.Step().String(), 0, 1)
	var rej activities.IngestRejectsOutput
	rin := activities.IngestRejectsInput{RunID: in.RunID, Sources: d.RejectSources()}
	if err := workflow.ExecuteActivity(actx, a.IngestRejects, rin).Get(ctx, &rej); err != nil {
		return IngestTotals{}, err
	}
	progress(d.Step().String(), 1, 1)
	err = d.Rejected(rej)
	tot := IngestTotals{ByReason: map[string]int64{}}
	for _, res := range d.Results() {
		tot.add(res)
	}
	return tot, err
}

// stageInChildren stages splits in blocks of SplitsPerChild in IngestSplits
// children, one after the other, each with the whole window: the parent
// holds a few events per block.
func stageInChildren(ctx workflow.Context, in IngestInput, splits []ingest.SplitTask, sources []ingest.PlannedSource,
	splitIn func(i int) activities.IngestSplitInput, out []ingest.Staged, progress func(phase string, done, total int)) error {
	blocks := shard.Blocks(len(splits), (len(splits)+in.SplitsPerChild-1)/in.SplitsPerChild)
	done := 0
	progress(ingest.StepStage.String(), 0, len(splits))
	return fanOut(ctx, len(blocks), 1,
		func(bi int) workflow.Future {
			b := blocks[bi]
			cin := IngestSplitsInput{Base: splitIn(b.From), Window: in.Window}
			cin.Base.Source, cin.Base.Range = activities.IngestSource{}, nil
			index := map[int]int{} // source -> position in cin.Sources
			for i := b.From; i < b.To; i++ {
				j := splits[i]
				k, ok := index[j.Source]
				if !ok {
					k = len(cin.Sources)
					index[j.Source] = k
					src := sources[j.Source]
					src.Splits = nil
					cin.Sources = append(cin.Sources, src)
				}
				cin.Splits = append(cin.Splits, SplitJob{Source: k, Split: j.Split, Range: j.Range})
			}
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID: fmt.Sprintf("%s-ingest-splits-%d", in.RunID, bi)})
			return workflow.ExecuteChildWorkflow(cctx, IngestSplits, cin)
		},
		func(bi int, f workflow.Future) error {
			var got []activities.IngestSplitOutput
			if err := f.Get(ctx, &got); err != nil {
				return err
			}
			b := blocks[bi]
			if len(got) != b.Len() {
				return fmt.Errorf("splits %d-%d: %d outputs", b.From, b.To, len(got))
			}
			copy(out[b.From:b.To], got)
			done += b.Len()
			progress(ingest.StepStage.String(), done, len(splits))
			return nil
		})
}

// add counts one source into the totals.
func (t *IngestTotals) add(res ingest.Result) {
	t.RowsRead += res.RowsRead
	t.Accepted += res.Accepted
	t.Duplicates += res.Duplicates
	t.Rejected += res.Rejected
	t.NoUser += res.NoUser
	t.AcceptedNoUser += res.AcceptedNoUser
	for k, v := range res.ByReason {
		t.ByReason[k] += v
	}
	for k, v := range res.ByType {
		if t.ByType == nil {
			t.ByType = map[string]int64{}
		}
		t.ByType[k] += v
	}
	t.Sources = append(t.Sources, res)
	t.Rejects = append(t.Rejects, res.Rejects)
}
