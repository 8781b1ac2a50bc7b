package layout

import (
	"fmt"

	"github.com/promoflow/promoflow/internal/shard"
)

// Keys of the ingest stage (docs/DATA.md). Partition i of a run with n
// shards is user shard i for i < n, and the rows without a user for i == n.

func partKey(i, n int) string {
	if i == n {
		return "anonymous"
	}
	return shard.Key(i)
}

// TableDir holds partition i of a canonical table (events, profiles,
// history), one piece per source.
func TableDir(run, table string, i, n int) string {
	return fmt.Sprintf("%s%s/%s/", Run(run), table, partKey(i, n))
}

// TablePart is the rows of partition i of table that came from source src.
// For the events of a user shard it is EventsPart.
func TablePart(run, table string, i, n int, src string) string {
	return TableDir(run, table, i, n) + "part-" + src + ".arrow"
}

// IngestDir holds everything the ingest stage stages for itself: split
// texts, staged rows and rejects, late rejects. Nothing outside ingest
// reads it; the run deletes it once the stage has finalized its tables
// and written the rejects (activities.DeleteStaged).
func IngestDir(run string) string { return Run(run) + "ingest/" }

// Staged is split sp, chunk c of source src: its staged rows of partition
// i, before duplicates are removed.
func Staged(run, src string, sp, c, i, n int) string {
	return fmt.Sprintf("%s%s/split=%04d/chunk=%05d/%s.arrow", IngestDir(run), src, sp, c, partKey(i, n))
}

// StagedRejects is split sp, chunk c of source src: its rejected records.
func StagedRejects(run, src string, sp, c int) string {
	return fmt.Sprintf("%s%s/split=%04d/chunk=%05d/rejects.arrow", IngestDir(run), src, sp, c)
}

// LateRejects are the records of source src that partition i of table
// rejected after staging (a value that could not be carried forward).
func LateRejects(run, table string, i, n int, src string) string {
	return fmt.Sprintf("%slate-rejects/%s/%s/%s.arrow", IngestDir(run), table, partKey(i, n), src)
}

// SplitText is split sp of source src when the source is a compressed
// file cut into chunks: the split's text as an S2 stream, ext naming its
// format ("csv", "jsonl").
func SplitText(run, src string, sp int, ext string) string {
	return fmt.Sprintf("%s%s/split=%04d/text.%s.s2", IngestDir(run), src, sp, ext)
}

// LateRejectsBlock are the late rejects of source src in user shards
// [from, to) of table, merged into one object by the block's finalize
// activity (a block of one shard uses LateRejects).
func LateRejectsBlock(run, table string, from, to int, src string) string {
	return fmt.Sprintf("%slate-rejects/%s/shards=%04d-%04d/%s.arrow", IngestDir(run), table, from, to, src)
}
