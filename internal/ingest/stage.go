package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/mapping"
	"github.com/promoflow/promoflow/internal/shard"
)

// Staging: a split's records, mapped, are written as staged rows to one
// file per partition (the user shards, then one for rows without a user)
// and its rejected records to one rejects file, chunk by chunk. Staged
// rows carry their line, the record's fingerprint and the columns still to
// be carried forward, so the per-partition step (Finalizer) can remove
// exact duplicates across splits and complete the rows.

// Extra columns of staged rows.
const (
	lineCol  = "_line"
	fpCol    = "_fp"
	carryCol = "_carry"
)

var fpType = &arrow.FixedSizeBinaryType{ByteWidth: 16}

// StagingSchema is the schema of t's staged rows: t's columns, all
// nullable, then _line, _fp and _carry.
func StagingSchema(t *canon.Table) *arrow.Schema {
	fields := make([]arrow.Field, 0, len(t.Columns)+3)
	for _, c := range t.Columns {
		fields = append(fields, arrow.Field{Name: c.Name, Type: c.Kind.ArrowType(), Nullable: true})
	}
	fields = append(fields,
		arrow.Field{Name: lineCol, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: fpCol, Type: fpType},
		arrow.Field{Name: carryCol, Type: arrow.PrimitiveTypes.Uint32})
	return arrow.NewSchema(fields, nil)
}

// RejectSchema is the schema of staged rejects.
var RejectSchema = arrow.NewSchema([]arrow.Field{
	{Name: lineCol, Type: arrow.PrimitiveTypes.Int64},
	{Name: fpCol, Type: fpType},
	{Name: "column", Type: arrow.BinaryTypes.String},
	{Name: "reason", Type: arrow.BinaryTypes.String},
	{Name: "value", Type: arrow.BinaryTypes.String},
}, nil)

// pieceWriter streams rows of one schema into a local Arrow IPC file,
// batchRows at a time.
type pieceWriter struct {
	path string
	f    *os.File
	bw   *bufio.Writer
	w    *arrowio.Writer
	b    *array.RecordBuilder
	sb   *stagedBuilders // staged rows only
	n    int
	rows int64
	kept func(arrow.Record) error // sees each record written, when set
}

func newPieceWriter(path string, schema *arrow.Schema, mem memory.Allocator) (*pieceWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	w, err := arrowio.NewWriter(bw, schema, mem)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &pieceWriter{path: path, f: f, bw: bw, w: w, b: array.NewRecordBuilder(mem, schema)}, nil
}

// done counts a row appended through b and writes a batch when full.
func (p *pieceWriter) done() error {
	p.n++
	p.rows++
	if p.n >= batchRows {
		return p.flush()
	}
	return nil
}

func (p *pieceWriter) flush() error {
	var rec arrow.Record
	if p.sb != nil {
		rec = p.sb.record(p.b, p.n)
	} else {
		rec = p.b.NewRecord()
	}
	defer rec.Release()
	p.n = 0
	if p.kept != nil {
		if err := p.kept(rec); err != nil {
			return err
		}
	}
	return p.w.Write(rec)
}

func (p *pieceWriter) close() error {
	if p.f == nil {
		return nil
	}
	var err error
	if p.n > 0 {
		err = p.flush()
	}
	err = errors.Join(err, p.w.Close(), p.bw.Flush(), p.f.Close())
	p.f = nil
	p.b.Release()
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(p.path), err)
	}
	return nil
}

func (p *pieceWriter) abort() {
	if p.f != nil {
		p.f.Close()
		p.f = nil
		p.b.Release()
	}
}

// stagedBuilders are a staging piece's builders by type, resolved once:
// appending a row then costs no interface conversion per value, for the
// millions of rows of a split. Text columns are plain offsets and bytes
// (textColumn) rather than Arrow's StringBuilder, whose per-value checks
// were 8.5 of a 1,000,000-user run's 60 staging CPU seconds.
type stagedBuilders struct {
	kinds []canon.Kind
	cols  []array.Builder
	str   []*textColumn // nil where the column is not text
	line  *array.Int64Builder
	fp    *array.FixedSizeBinaryBuilder
	carry *array.Uint32Builder
}

func newStagedBuilders(b *array.RecordBuilder, kinds []canon.Kind) *stagedBuilders {
	n := len(kinds)
	sb := &stagedBuilders{kinds: kinds, cols: b.Fields()[:n], str: make([]*textColumn, n),
		line: b.Field(n).(*array.Int64Builder), fp: b.Field(n + 1).(*array.FixedSizeBinaryBuilder),
		carry: b.Field(n + 2).(*array.Uint32Builder)}
	for i, k := range kinds {
		if k == canon.String {
			sb.str[i] = &textColumn{}
		}
	}
	return sb
}

// append appends one staged row.
func (sb *stagedBuilders) append(row []canon.Value, line int64, fp *[16]byte, carry uint32) {
	for i, k := range sb.kinds {
		switch v := &row[i]; {
		case sb.str[i] != nil:
			sb.str[i].append(v.Str, v.Null)
		case v.Null:
			sb.cols[i].AppendNull()
		default:
			canon.AppendValue(sb.cols[i], k, *v)
		}
	}
	sb.line.Append(line)
	sb.fp.Append(fp[:])
	sb.carry.Append(carry)
}

// record takes the n appended rows as a record of b's schema: the text
// columns' arrays from their textColumn, the others from b's builders.
func (sb *stagedBuilders) record(b *array.RecordBuilder, n int) arrow.Record {
	fields := b.Fields()
	cols := make([]arrow.Array, len(fields))
	for i, f := range fields {
		if i < len(sb.str) && sb.str[i] != nil {
			cols[i] = sb.str[i].array()
		} else {
			cols[i] = f.NewArray()
		}
	}
	rec := array.NewRecord(b.Schema(), cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// textColumn collects a text column's values as Arrow lays them out
// (validity bits, int32 offsets, bytes) and hands them over as an array.
type textColumn struct {
	offsets []int32
	data    []byte
	valid   []byte // bitmap; nil while no value is null
	n       int
	nulls   int
}

func (c *textColumn) append(s string, null bool) {
	if c.offsets == nil {
		c.offsets = append(make([]int32, 0, 1024), 0)
	}
	if null {
		if c.valid == nil {
			c.valid = make([]byte, (c.n+8)/8, max(128, (c.n+8)/4))
			for i := range c.n {
				c.valid[i/8] |= 1 << (i % 8)
			}
		}
		c.nulls++
	} else {
		c.data = append(c.data, s...)
	}
	if c.valid != nil {
		if c.n/8 >= len(c.valid) {
			c.valid = append(c.valid, 0)
		}
		if !null {
			c.valid[c.n/8] |= 1 << (c.n % 8)
		}
	}
	c.n++
	c.offsets = append(c.offsets, int32(len(c.data)))
}

// array returns the values appended since the last call as a string array
// and starts over; the array owns the slices.
func (c *textColumn) array() arrow.Array {
	if c.offsets == nil {
		c.offsets = []int32{0}
	}
	var valid *memory.Buffer
	if c.valid != nil {
		valid = memory.NewBufferBytes(c.valid)
	}
	offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.offsets))
	data := array.NewData(arrow.BinaryTypes.String, c.n, []*memory.Buffer{valid, offs, memory.NewBufferBytes(c.data)}, nil, c.nulls, 0)
	defer data.Release()
	arr := array.NewStringData(data)
	capOffs, capData := cap(c.offsets), cap(c.data)
	*c = textColumn{offsets: append(make([]int32, 0, capOffs), 0), data: make([]byte, 0, capData)}
	return arr
}

func appendReject(b *array.RecordBuilder, line int64, fp [16]byte, column, reason, value string) {
	value = clip(value, 200)
	b.Field(0).(*array.Int64Builder).Append(line)
	b.Field(1).(*array.FixedSizeBinaryBuilder).Append(fp[:])
	b.Field(2).(*array.StringBuilder).Append(column)
	b.Field(3).(*array.StringBuilder).Append(reason)
	b.Field(4).(*array.StringBuilder).Append(value)
}

// FailureCount counts rejected records of one column and reason, with the
// first example, so a wrong mapping can be told from a few bad rows.
type FailureCount struct {
	Column  string `json:"column"`
	Reason  string `json:"reason"`
	Count   int64  `json:"count"`
	Line    int64  `json:"line"`
	Example string `json:"example"`
	Skip    bool   `json:"skip,omitempty"` // a skip rule: never a sign of a wrong mapping
}

// SplitCounts count a split's records before duplicates are removed.
type SplitCounts struct {
	RowsRead int64          `json:"rows_read"`
	NoUser   int64          `json:"no_user"`  // records without a user id, whatever became of them
	Staged   int64          `json:"staged"`   // records staged as rows
	Rejected int64          `json:"rejected"` // records rejected (some may turn out duplicates)
	Failures []FailureCount `json:"failures,omitempty"`
}

func (c *SplitCounts) fail(line int64, column, reason, value string, skip bool) {
	c.Rejected++
	for i := range c.Failures {
		f := &c.Failures[i]
		if f.Column == column && f.Reason == reason {
			f.Count++
			return
		}
	}
	c.Failures = append(c.Failures, FailureCount{Column: column, Reason: reason, Count: 1, Line: line, Example: clip(value, 200), Skip: skip})
}

// Judge fails when one column and reason rejects most of a file's
// records (at least MinBad): that is a wrong file or mapping, not bad rows.
func (c *SplitCounts) Judge(source string) error {
	for _, f := range c.Failures {
		if !f.Skip && f.Count >= MinBad && 2*f.Count > c.RowsRead {
			return &BadInputError{Source: source, Line: int(f.Line), Column: f.Column, Example: f.Example,
				Msg: fmt.Sprintf("%s in %d of %d rows: wrong file or mapping", f.Reason, f.Count, c.RowsRead)}
		}
	}
	return nil
}

// MinBad is the fewest failures of one kind that Judge takes for a wrong
// mapping.
const MinBad = 10

// EarlyRows is how many records Probe reads before the fan-out.
const EarlyRows = 1000

// StageConfig configures Stage.
type StageConfig struct {
	Program   *mapping.Program
	Shards    int
	ChunkRows int // records per chunk; a chunk is the unit of resumption
	Dir       string
	Mem       memory.Allocator
	Source    string // the file, for messages
}

// Chunk is a finished chunk's local files.
type Chunk struct {
	Index    int
	Parts    []string // staged rows per partition: Shards user shards, then no-user
	PartRows []int64
	Rejects  string
	Rejected int64
}

// StageState is where a split's staging stands: the position of the next
// record, the chunks finished and the counts so far. An activity heartbeats
// it and resumes from it.
type StageState struct {
	Pos    Position    `json:"pos"`
	Chunks int         `json:"chunks"`
	Counts SplitCounts `json:"counts"`
}

// Stage maps the records of rd and stages them, starting from st (the zero
// state, or one saved by done). Every cfg.ChunkRows records, at a
// position rd can resume from, it closes a chunk and calls done with the
// chunk's files and the state after it; done uploads them and saves the
// state, and the files are removed when it returns. Chunk boundaries
// depend only on the records, so a resumed split writes the same chunks as
// an uninterrupted one. At the end Stage judges the split's failures.
func Stage(ctx context.Context, rd Reader, cfg StageConfig, st StageState, done func(Chunk, StageState) error) (StageState, error) {
	if cfg.Mem == nil {
		cfg.Mem = memory.DefaultAllocator
	}
	t := cfg.Program.Table
	kinds := t.Kinds()
	schema := StagingSchema(t)
	user := t.Index("user_id")
	var (
		cw   *chunkWriter
		row  mapping.Row
		err  error
		recs int
	)
	defer func() {
		if cw != nil {
			cw.abort()
		}
	}()
	finish := func(pos Position) error {
		c, err := cw.close()
		cw = nil
		if err != nil {
			return err
		}
		st.Pos, st.Chunks, recs = pos, st.Chunks+1, 0
		err = done(c, st)
		for _, p := range append(c.Parts, c.Rejects) {
			os.Remove(p)
		}
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		rec, rerr := rd.Next()
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return st, rerr
		}
		if cw == nil {
			if cw, err = newChunkWriter(cfg, st.Chunks, schema); err != nil {
				return st, err
			}
		}
		recs++
		st.Counts.RowsRead++
		switch {
		case rec.Err != "":
			st.Counts.fail(rec.Line, rec.ErrColumn, rec.Err, rec.ErrValue, false)
			appendReject(cw.rejects.b, rec.Line, rec.FP, rec.ErrColumn, rec.Err, rec.ErrValue)
			err = cw.rejects.done()
		default:
			cfg.Program.Eval(rec.Fields, rec.Null, &row)
			if row.NoUser {
				st.Counts.NoUser++
			}
			if row.Fail.Reason == "" && len(row.Rows) == 0 {
				row.Fail = mapping.Failure{Reason: "no attribute values"}
			}
			if f := row.Fail; f.Reason != "" {
				st.Counts.fail(rec.Line, f.Column, f.Reason, f.Value, f.Skip)
				appendReject(cw.rejects.b, rec.Line, rec.FP, f.Column, f.Reason, f.Value)
				err = cw.rejects.done()
				break
			}
			part := cfg.Shards // no user
			if user >= 0 && !row.Rows[0][user].Null {
				part = shard.Of(row.Rows[0][user].Str, cfg.Shards)
			}
			st.Counts.Staged++
			pw := cw.parts[part]
			if pw.sb == nil {
				pw.sb = newStagedBuilders(pw.b, kinds)
			}
			for _, r := range row.Rows {
				pw.sb.append(r, rec.Line, &rec.FP, row.Carry)
				if err = pw.done(); err != nil {
					break
				}
			}
		}
		if err != nil {
			return st, fmt.Errorf("%s: line %d: %w", cfg.Source, rec.Line, err)
		}
		if recs >= cfg.ChunkRows {
			if pos, ok := rd.Pos(); ok {
				if err := finish(pos); err != nil {
					return st, err
				}
			}
		}
	}
	if cw != nil {
		pos, _ := rd.Pos()
		if err := finish(pos); err != nil {
			return st, err
		}
	}
	return st, st.Counts.Judge(cfg.Source)
}

// Probe maps up to n records of rd without writing anything and judges
// them, so a wrong mapping stops a run before any work fans out.
func Probe(rd Reader, prog *mapping.Program, n int, source string) (SplitCounts, error) {
	var c SplitCounts
	var row mapping.Row
	for c.RowsRead < int64(n) {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return c, err
		}
		c.RowsRead++
		if rec.Err != "" {
			c.fail(rec.Line, rec.ErrColumn, rec.Err, rec.ErrValue, false)
			continue
		}
		prog.Eval(rec.Fields, rec.Null, &row)
		if row.NoUser {
			c.NoUser++
		}
		if f := row.Fail; f.Reason != "" {
			c.fail(rec.Line, f.Column, f.Reason, f.Value, f.Skip)
			continue
		}
		c.Staged++
	}
	return c, c.Judge(source)
}

// chunkWriter holds one chunk's open files.
type chunkWriter struct {
	index   int
	parts   []*pieceWriter
	rejects *pieceWriter
}

func newChunkWriter(cfg StageConfig, index int, schema *arrow.Schema) (*chunkWriter, error) {
	cw := &chunkWriter{index: index}
	for p := 0; p <= cfg.Shards; p++ {
		pw, err := newPieceWriter(filepath.Join(cfg.Dir, fmt.Sprintf("chunk-%05d-part-%04d.arrow", index, p)), schema, cfg.Mem)
		if err != nil {
			cw.abort()
			return nil, err
		}
		cw.parts = append(cw.parts, pw)
	}
	rw, err := newPieceWriter(filepath.Join(cfg.Dir, fmt.Sprintf("chunk-%05d-rejects.arrow", index)), RejectSchema, cfg.Mem)
	if err != nil {
		cw.abort()
		return nil, err
	}
	cw.rejects = rw
	return cw, nil
}

func (cw *chunkWriter) close() (Chunk, error) {
	c := Chunk{Index: cw.index}
	var errs []error
	for _, p := range cw.parts {
		errs = append(errs, p.close())
		c.Parts = append(c.Parts, p.path)
		c.PartRows = append(c.PartRows, p.rows)
	}
	errs = append(errs, cw.rejects.close())
	c.Rejects, c.Rejected = cw.rejects.path, cw.rejects.rows
	return c, errors.Join(errs...)
}

func (cw *chunkWriter) abort() {
	for _, p := range cw.parts {
		p.abort()
	}
	if cw.rejects != nil {
		cw.rejects.abort()
	}
}
