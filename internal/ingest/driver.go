package ingest

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/shard"
)

// Driver is the ingest algorithm written once: it says which work an
// ingest needs next and takes back the results, but never runs the work
// itself (the shape of budget.Solver and gonum's optimize.Method). Two
// executors run it: Local, with goroutines over local files, and the
// Ingest workflow, with a windowed fan-out of activities over the bucket.
// So both plan the same splits, finalize the same blocks and reduce the
// counts in the same order.
//
// The steps, in order:
//
//	StepPlan:     plan each of Inputs inputs, then Planned;
//	StepStage:    stage each of Splits, then Staged;
//	StepFinalize: finalize each of Finalizes (a table's block of user
//	              shards, or its rows without a user), then Finalized;
//	StepRejects:  write the rejects of RejectSources, then Rejected;
//	StepDone:     Results.
//
// It holds keys and counts only, so it can live in a workflow.
type Driver struct {
	cfg  DriverConfig
	step Step

	sources []PlannedSource
	splits  []SplitTask
	staged  []Staged
	chunks  [][]int // per source, chunks per split

	tables  []string         // in order of first appearance
	members map[string][]int // table -> source indices, in input order
	blocks  []shard.Block    // user shard blocks, then the rows without a user
	fin     []Finalized      // per table, per block

	results []Result
}

// Step is what a Driver needs next.
type Step int

// The steps of an ingest.
const (
	StepPlan Step = iota
	StepStage
	StepFinalize
	StepRejects
	StepDone
)

func (s Step) String() string {
	switch s {
	case StepPlan:
		return "plan"
	case StepStage:
		return "split"
	case StepFinalize:
		return "dedupe"
	case StepRejects:
		return "rejects"
	case StepDone:
		return "done"
	}
	return fmt.Sprintf("step %d", int(s))
}

// DriverConfig sizes an ingest.
type DriverConfig struct {
	Inputs int // input files
	Shards int // user shards
	// ShardBlocks is the most finalize tasks per table over its user
	// shards (shard.Blocks); 0 or at least Shards means one per shard.
	ShardBlocks int
}

// PlannedSource is one input file mapped into one table, as planned: the
// result of planning an input is one per mapping source matching it.
type PlannedSource struct {
	Name   string // short name of its pieces and rejects (layout.Source, plus the mapping source's name when a file feeds several)
	Key    string
	Spec   int // index of the mapping source
	Table  string
	Format string
	Dedupe bool
	Splits []Split
}

// SplitTask is one split to stage: split Split of source Source (an index
// into Driver.Sources), whose range is Range.
type SplitTask struct {
	Source, Split int
	Range         Split
}

// Staged is the result of staging a split: its records counted before
// duplicates are removed, and the chunks it staged.
type Staged struct {
	Counts SplitCounts
	Chunks int
}

// StagedSource is one source's staged chunks: Chunks[i] chunks in split i.
type StagedSource struct {
	Name   string
	Spec   int
	Chunks []int
}

// FinalizeTask is one finalize of a table: partitions [From, To) (user
// shards, or the rows without a user when From is the number of shards)
// of every source of the table, in input order.
type FinalizeTask struct {
	Table    string
	From, To int
	Sources  []StagedSource
}

// Finalized is the result of a FinalizeTask: per source of the table, its
// counts merged over the task's partitions (FinalCounts.Merge) and the
// reference of its late rejects ("" for none), one per task.
type Finalized struct {
	Counts      []FinalCounts
	LateRejects []string
}

// RejectSource is one source's staged and late rejects: the input of
// writing its rejects CSV.
type RejectSource struct {
	Name   string
	Key    string
	Table  string
	Dedupe bool
	Chunks []int    // per split
	Late   []string // late rejects' references, in partition order
}

// RejectsWritten is the result of writing every source's rejects: per
// source, in order, the rejects CSV's reference and counts.
type RejectsWritten struct {
	Keys   []string
	Counts []RejectCounts
}

// NewDriver returns a driver at StepPlan.
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if cfg.Inputs < 1 || cfg.Shards < 1 {
		return nil, fmt.Errorf("ingest: %d inputs, %d shards", cfg.Inputs, cfg.Shards)
	}
	return &Driver{cfg: cfg}, nil
}

// Step is what the driver needs next.
func (d *Driver) Step() Step { return d.step }

func (d *Driver) want(s Step) error {
	if d.step != s {
		return fmt.Errorf("ingest driver: results of %s at step %s", s, d.step)
	}
	return nil
}

// Inputs is the number of inputs to plan (StepPlan).
func (d *Driver) Inputs() int { return d.cfg.Inputs }

// Planned takes the sources of each input, in input order, and moves to
// StepStage.
func (d *Driver) Planned(plans [][]PlannedSource) error {
	if err := d.want(StepPlan); err != nil {
		return err
	}
	if len(plans) != d.cfg.Inputs {
		return fmt.Errorf("ingest: %d plans for %d inputs", len(plans), d.cfg.Inputs)
	}
	for _, p := range plans {
		d.sources = append(d.sources, p...)
	}
	d.members = map[string][]int{}
	for si, s := range d.sources {
		if d.members[s.Table] == nil {
			d.tables = append(d.tables, s.Table)
		}
		d.members[s.Table] = append(d.members[s.Table], si)
		for sp, r := range s.Splits {
			d.splits = append(d.splits, SplitTask{Source: si, Split: sp, Range: r})
		}
	}
	d.step = StepStage
	return nil
}

// Sources are the planned sources, in input order.
func (d *Driver) Sources() []PlannedSource { return d.sources }

// Splits are the splits to stage (StepStage), source by source.
func (d *Driver) Splits() []SplitTask { return d.splits }

// Staged takes the result of each of Splits, in order, and moves to
// StepFinalize.
func (d *Driver) Staged(out []Staged) error {
	if err := d.want(StepStage); err != nil {
		return err
	}
	if len(out) != len(d.splits) {
		return fmt.Errorf("ingest: %d staged splits for %d", len(out), len(d.splits))
	}
	d.staged = out
	d.chunks = make([][]int, len(d.sources))
	for i, j := range d.splits {
		d.chunks[j.Source] = append(d.chunks[j.Source], out[i].Chunks)
	}
	// User shards in blocks (one shard each when Shards <= ShardBlocks),
	// then the rows without a user.
	d.blocks = append(shard.Blocks(d.cfg.Shards, d.cfg.ShardBlocks), shard.Block{From: d.cfg.Shards, To: d.cfg.Shards + 1})
	d.step = StepFinalize
	return nil
}

// Finalizes are the finalize tasks (StepFinalize): the tables in order of
// first appearance, each's blocks in shard order, the rows without a user
// last.
func (d *Driver) Finalizes() []FinalizeTask {
	out := make([]FinalizeTask, 0, len(d.tables)*len(d.blocks))
	for _, t := range d.tables {
		var staged []StagedSource
		for _, si := range d.members[t] {
			staged = append(staged, StagedSource{Name: d.sources[si].Name, Spec: d.sources[si].Spec, Chunks: d.chunks[si]})
		}
		for _, b := range d.blocks {
			out = append(out, FinalizeTask{Table: t, From: b.From, To: b.To, Sources: staged})
		}
	}
	return out
}

// Finalized takes the result of each of Finalizes, in order, and moves to
// StepRejects.
func (d *Driver) Finalized(out []Finalized) error {
	if err := d.want(StepFinalize); err != nil {
		return err
	}
	if len(out) != len(d.tables)*len(d.blocks) {
		return fmt.Errorf("ingest: %d finalized partitions for %d", len(out), len(d.tables)*len(d.blocks))
	}
	for i, f := range out {
		n := len(d.members[d.tables[i/len(d.blocks)]])
		if len(f.Counts) != n || len(f.LateRejects) != n {
			return fmt.Errorf("ingest: finalize %d: counts of %d sources and %d late rejects, want %d", i, len(f.Counts), len(f.LateRejects), n)
		}
	}
	d.fin = out
	d.step = StepRejects
	return nil
}

// each calls fn with the finalize result of every block of source si's
// table, in order, and the source's position among the table's sources.
func (d *Driver) each(si int, fn func(f Finalized, k int, anonymous bool)) {
	t := d.sources[si].Table
	ti, k := 0, 0
	for i, name := range d.tables {
		if name == t {
			ti = i
		}
	}
	for i, m := range d.members[t] {
		if m == si {
			k = i
		}
	}
	parts := len(d.blocks)
	for p := 0; p < parts; p++ {
		fn(d.fin[ti*parts+p], k, p == parts-1)
	}
}

// RejectSources are the sources whose rejects to write (StepRejects), in
// input order, each with its late rejects in partition order.
func (d *Driver) RejectSources() []RejectSource {
	out := make([]RejectSource, len(d.sources))
	for si, s := range d.sources {
		rs := RejectSource{Name: s.Name, Key: s.Key, Table: s.Table, Dedupe: s.Dedupe, Chunks: d.chunks[si]}
		d.each(si, func(f Finalized, k int, _ bool) {
			if key := f.LateRejects[k]; key != "" {
				rs.Late = append(rs.Late, key)
			}
		})
		out[si] = rs
	}
	return out
}

// Rejected takes the written rejects, reduces every count in input order
// and moves to StepDone. A source whose records are not all accounted
// for is an error (Result.Check); Results then holds the sources before
// it.
func (d *Driver) Rejected(rej RejectsWritten) error {
	if err := d.want(StepRejects); err != nil {
		return err
	}
	if len(rej.Keys) != len(d.sources) || len(rej.Counts) != len(d.sources) {
		return fmt.Errorf("ingest: rejects of %d sources, want %d", len(rej.Counts), len(d.sources))
	}
	d.results = make([]Result, 0, len(d.sources))
	sj := 0
	for si, s := range d.sources {
		c := rej.Counts[si]
		res := Result{Source: s.Key, Name: s.Name, Table: s.Table, Format: s.Format, Splits: len(s.Splits),
			ByReason: c.ByReason, Rejected: c.Rejected, Duplicates: c.Duplicates, Rejects: rej.Keys[si]}
		for range s.Splits {
			sc := d.staged[sj].Counts
			res.RowsRead += sc.RowsRead
			res.NoUser += sc.NoUser
			sj++
		}
		d.each(si, func(f Finalized, k int, anonymous bool) { res.AddCounts(f.Counts[k], anonymous) })
		if err := res.Check(); err != nil {
			// Results holds the sources accounted for before it.
			return fmt.Errorf("row accounting: %w", err)
		}
		d.results = append(d.results, res)
	}
	d.step = StepDone
	return nil
}

// Results is every source's accounting, in input order (StepDone).
func (d *Driver) Results() []Result { return d.results }
