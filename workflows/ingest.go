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

// ingestAll plans every input (a wrong mapping stops here, before any
// fan-out), stages every split, finalizes every partition of every table
// (duplicates removed across splits and sources), writes the rejects, and
// reduces the counts in input order. progress reports the phase and its
// units.
func ingestAll(ctx workflow.Context, in IngestInput, progress func(phase string, done, total int)) (IngestTotals, error) {
	in.defaults()
	hctx := withHeartbeat(ctx)
	actx := withActivityOptions(ctx)

	// 1. Plan.
	plans := make([]activities.IngestPlanOutput, len(in.Inputs))
	done := 0
	progress("plan", 0, len(in.Inputs))
	err := fanOut(ctx, len(in.Inputs), in.Window,
		func(i int) workflow.Future {
			return workflow.ExecuteActivity(hctx, a.IngestPlan, activities.IngestPlanInput{
				RunID: in.RunID, Key: in.Inputs[i], Index: i, Mapping: in.Mapping, SplitBytes: in.SplitBytes,
			})
		},
		func(i int, f workflow.Future) error {
			done++
			progress("plan", done, len(in.Inputs))
			return f.Get(ctx, &plans[i])
		})
	if err != nil {
		return IngestTotals{}, err
	}
	var sources []activities.IngestSource
	for _, p := range plans {
		sources = append(sources, p.Sources...)
	}

	// 2. Stage every split.
	type job struct{ src, split int }
	var jobs []job
	for si, s := range sources {
		for sp := range s.Splits {
			jobs = append(jobs, job{si, sp})
		}
	}
	splitIn := func(i int) activities.IngestSplitInput {
		j := jobs[i]
		// The split itself, not its source's list of splits: the
		// inputs would grow with the square of the splits.
		src, sp := sources[j.src], sources[j.src].Splits[j.split]
		src.Splits = nil
		return activities.IngestSplitInput{
			RunID: in.RunID, Mapping: in.Mapping, Source: src, Split: j.split, Range: &sp,
			Shards: in.Shards, ChunkRows: in.ChunkRows, NotAfter: in.NotAfter,
		}
	}
	splitOut := make([]activities.IngestSplitOutput, len(jobs))
	done = 0
	progress("split", 0, len(jobs))
	if len(jobs) > in.SplitsPerChild && workflow.GetVersion(ctx, splitChildren, workflow.DefaultVersion, 1) == 1 {
		// Blocks of splits in children, one after the other, each with
		// the whole window: the parent holds a few events per block.
		blocks := shard.Blocks(len(jobs), (len(jobs)+in.SplitsPerChild-1)/in.SplitsPerChild)
		err = fanOut(ctx, len(blocks), 1,
			func(bi int) workflow.Future {
				b := blocks[bi]
				cin := IngestSplitsInput{Base: splitIn(b.From), Window: in.Window}
				cin.Base.Source, cin.Base.Range = activities.IngestSource{}, nil
				index := map[int]int{} // source -> position in cin.Sources
				for i := b.From; i < b.To; i++ {
					j := jobs[i]
					k, ok := index[j.src]
					if !ok {
						k = len(cin.Sources)
						index[j.src] = k
						src := sources[j.src]
						src.Splits = nil
						cin.Sources = append(cin.Sources, src)
					}
					cin.Splits = append(cin.Splits, SplitJob{Source: k, Split: j.split, Range: sources[j.src].Splits[j.split]})
				}
				cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
					WorkflowID: fmt.Sprintf("%s-ingest-splits-%d", in.RunID, bi)})
				return workflow.ExecuteChildWorkflow(cctx, IngestSplits, cin)
			},
			func(bi int, f workflow.Future) error {
				var out []activities.IngestSplitOutput
				if err := f.Get(ctx, &out); err != nil {
					return err
				}
				b := blocks[bi]
				if len(out) != b.Len() {
					return fmt.Errorf("splits %d-%d: %d outputs", b.From, b.To, len(out))
				}
				copy(splitOut[b.From:b.To], out)
				done += b.Len()
				progress("split", done, len(jobs))
				return nil
			})
	} else {
		err = fanOut(ctx, len(jobs), in.Window,
			func(i int) workflow.Future { return workflow.ExecuteActivity(hctx, a.IngestSplit, splitIn(i)) },
			func(i int, f workflow.Future) error {
				done++
				progress("split", done, len(jobs))
				return f.Get(ctx, &splitOut[i])
			})
	}
	if err != nil {
		return IngestTotals{}, err
	}
	chunks := make([][]int, len(sources))
	for i, j := range jobs {
		chunks[j.src] = append(chunks[j.src], splitOut[i].Chunks)
	}

	// 3. Finalize every partition of every table, the tables in order of
	// first appearance: user shards in blocks (one shard each when Shards
	// <= ShardBlocks, as before blocks), then the rows without a user.
	var tables []string
	members := map[string][]int{} // table -> source indices, in input order
	for si, s := range sources {
		if members[s.Table] == nil {
			tables = append(tables, s.Table)
		}
		members[s.Table] = append(members[s.Table], si)
	}
	blocks := append(shard.Blocks(in.Shards, in.ShardBlocks), shard.Block{From: in.Shards, To: in.Shards + 1})
	parts := len(blocks)
	fin := make([]activities.IngestFinalizeOutput, len(tables)*parts)
	done = 0
	progress("dedupe", 0, len(fin))
	err = fanOut(ctx, len(fin), in.Window,
		func(i int) workflow.Future {
			t, b := tables[i/parts], blocks[i%parts]
			var staged []activities.StagedSource
			for _, si := range members[t] {
				staged = append(staged, activities.StagedSource{Name: sources[si].Name, Spec: sources[si].Spec, Chunks: chunks[si]})
			}
			fi := activities.IngestFinalizeInput{
				RunID: in.RunID, Mapping: in.Mapping, Table: t, Partition: b.From, Shards: in.Shards, Sources: staged,
			}
			octx := actx
			if b.Len() > 1 {
				// A block finalizes its shards one after the other.
				fi.To, octx = b.To, hctx
			}
			return workflow.ExecuteActivity(octx, a.IngestFinalize, fi)
		},
		func(i int, f workflow.Future) error {
			done++
			progress("dedupe", done, len(fin))
			return f.Get(ctx, &fin[i])
		})
	if err != nil {
		return IngestTotals{}, err
	}

	// 4. Rejects.
	progress("rejects", 0, 1)
	rin := activities.IngestRejectsInput{RunID: in.RunID}
	for si, s := range sources {
		rs := activities.RejectSource{Name: s.Name, Key: s.Key, Table: s.Table, Dedupe: s.Dedupe, Chunks: chunks[si]}
		ti, k := tableIndex(tables, members, s.Table, si)
		for p := 0; p < parts; p++ {
			if key := fin[ti*parts+p].LateRejects[k]; key != "" {
				rs.Late = append(rs.Late, key)
			}
		}
		rin.Sources = append(rin.Sources, rs)
	}
	var rej activities.IngestRejectsOutput
	if err := workflow.ExecuteActivity(actx, a.IngestRejects, rin).Get(ctx, &rej); err != nil {
		return IngestTotals{}, err
	}
	progress("rejects", 1, 1)

	// Reduce in input order.
	tot := IngestTotals{ByReason: map[string]int64{}}
	sj := 0
	for si, s := range sources {
		res := ingest.Result{Source: s.Key, Name: s.Name, Table: s.Table, Format: s.Format, Splits: len(s.Splits),
			ByReason: rej.Counts[si].ByReason, Rejected: rej.Counts[si].Rejected, Duplicates: rej.Counts[si].Duplicates,
			Rejects: rej.Keys[si]}
		for range s.Splits {
			c := splitOut[sj].Counts
			res.RowsRead += c.RowsRead
			res.NoUser += c.NoUser
			sj++
		}
		ti, k := tableIndex(tables, members, s.Table, si)
		for p := 0; p < parts; p++ {
			res.AddCounts(fin[ti*parts+p].Counts[k], p == parts-1)
		}
		if err := res.Check(); err != nil {
			return tot, fmt.Errorf("row accounting: %w", err)
		}
		tot.add(res)
	}
	return tot, nil
}

// tableIndex returns the position of table t and of source si among the
// table's sources.
func tableIndex(tables []string, members map[string][]int, t string, si int) (int, int) {
	ti := 0
	for i, name := range tables {
		if name == t {
			ti = i
		}
	}
	for k, m := range members[t] {
		if m == si {
			return ti, k
		}
	}
	return ti, 0
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
