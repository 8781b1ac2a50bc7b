// Package ingest reads delivered files (CSV, JSON Lines, Parquet, each
// optionally gzip-compressed), maps them into promoflow's canonical tables
// with a mapping (internal/mapping), and accounts for every record: each is
// accepted, an exact duplicate of an earlier record, or rejected with a
// reason.
//
// Ingest runs in three steps that activities fan out:
//
//  1. PlanText / PlanRowGroups cut a file into splits on record boundaries
//     (Probe first checks the mapping on the first records);
//  2. Stage maps one split's records into staged rows per user shard
//     (plus one partition for rows without a user) and staged rejects,
//     chunk by chunk, resumable at any chunk;
//  3. Finalizer completes one partition: it drops exact duplicates across
//     every split and source in input order, carries values forward within
//     a user, and writes the table's rows; RejectWriter writes each
//     source's rejects CSV, dropping duplicates of rejected records.
//
// Driver sequences the steps and reduces their results (the algorithm,
// written once); PlanInput, StageSplit, FinalizeBlock and WriteRejects are
// the steps' work. Two executors run them: Local, on goroutines over
// local files, and the Ingest workflow with its activities over the
// bucket. The package knows nothing of Temporal or the bucket.
package ingest

import (
	"fmt"
	"time"
)

// batchRows is the record batch size of the Arrow files ingest writes; it
// bounds the rows a writer holds before writing.
const batchRows = 16384

// Result accounts for every record of one source (a file mapped into one
// table): RowsRead = Accepted + Duplicates + Rejected.
type Result struct {
	Source     string           `json:"source"` // the file's key
	Name       string           `json:"name"`   // short name of its pieces and rejects
	Table      string           `json:"table"`
	Format     string           `json:"format"`
	Splits     int              `json:"splits"`
	RowsRead   int64            `json:"rows_read"`
	Accepted   int64            `json:"accepted"`
	Duplicates int64            `json:"duplicates"`
	Rejected   int64            `json:"rejected"`
	ByReason   map[string]int64 `json:"by_reason,omitempty"`
	// ByType counts accepted events by type (purchase, return, ...).
	ByType map[string]int64 `json:"by_type,omitempty"`
	// NoUser counts records without a user id, whatever became of them;
	// AcceptedNoUser those of them accepted: kept as anonymous events,
	// out of the user shards and per-user features.
	NoUser         int64     `json:"no_user"`
	AcceptedNoUser int64     `json:"accepted_no_user"`
	Rows           int64     `json:"rows"` // table rows written (profiles: one per attribute)
	MinTS          time.Time `json:"min_ts"`
	MaxTS          time.Time `json:"max_ts"`
	Rejects        string    `json:"rejects,omitempty"` // key of the rejects CSV
}

// Check reports a source whose records are not all accounted for.
func (r *Result) Check() error {
	if r.RowsRead != r.Accepted+r.Duplicates+r.Rejected {
		return fmt.Errorf("%s: %d rows read but %d accepted + %d duplicates + %d rejected", r.Source, r.RowsRead, r.Accepted, r.Duplicates, r.Rejected)
	}
	var n int64
	for _, v := range r.ByReason {
		n += v
	}
	if n != r.Rejected {
		return fmt.Errorf("%s: %d rejected but %d by reason", r.Source, r.Rejected, n)
	}
	if r.ByType != nil {
		n = 0
		for _, v := range r.ByType {
			n += v
		}
		if n != r.Accepted {
			return fmt.Errorf("%s: %d accepted but %d by type", r.Source, r.Accepted, n)
		}
	}
	return nil
}

// BadInputError means the input as a whole cannot be read as configured (a
// missing column, a column most rows fail to parse, a wrong mapping).
// Retrying cannot help.
type BadInputError struct {
	Source  string
	Line    int
	Column  string
	Example string
	Msg     string
}

func (e *BadInputError) Error() string {
	s := e.Source
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
	}
	if e.Column != "" {
		s += fmt.Sprintf(": column %q", e.Column)
	}
	s += ": " + e.Msg
	if e.Example != "" {
		s += fmt.Sprintf(" (example value %q)", e.Example)
	}
	return s
}

func timeMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// AddCounts adds one partition's counts of the source to r: accepted,
// duplicates, rows, types and the time range (accepted_no_user when
// anonymous is set: the partition of rows without a user).
func (r *Result) AddCounts(c FinalCounts, anonymous bool) {
	if c.Accepted > 0 {
		if r.Accepted == 0 || c.MinTS < r.MinTS.UnixMilli() {
			r.MinTS = timeMS(c.MinTS)
		}
		if r.Accepted == 0 || c.MaxTS > r.MaxTS.UnixMilli() {
			r.MaxTS = timeMS(c.MaxTS)
		}
	}
	r.Accepted += c.Accepted
	r.Duplicates += c.Duplicates
	r.Rows += c.Rows
	if anonymous {
		r.AcceptedNoUser += c.Accepted
	}
	for k, v := range c.ByType {
		if r.ByType == nil {
			r.ByType = map[string]int64{}
		}
		r.ByType[k] += v
	}
}

// Merge adds o, the counts of the same source in another partition, to c:
// a block of partitions returns one FinalCounts per source, and
// Result.AddCounts of the merged counts equals AddCounts of each.
func (c *FinalCounts) Merge(o FinalCounts) {
	if o.Accepted > 0 {
		if c.Accepted == 0 || o.MinTS < c.MinTS {
			c.MinTS = o.MinTS
		}
		if c.Accepted == 0 || o.MaxTS > c.MaxTS {
			c.MaxTS = o.MaxTS
		}
	}
	c.Accepted += o.Accepted
	c.Duplicates += o.Duplicates
	c.Rejected += o.Rejected
	c.Rows += o.Rows
	for k, v := range o.ByType {
		if c.ByType == nil {
			c.ByType = map[string]int64{}
		}
		c.ByType[k] += v
	}
}
