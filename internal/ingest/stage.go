package ingest

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
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
	// text are the text columns kept outside b, by field (nil where b
	// has the column; nil when b has them all).
	text []*textColumn
	// fixed are the fixed-width columns kept outside b, likewise (staged
	// rows only).
	fixed []*fixedColumn
	n     int
	rows  int64
	// kept sees each record written, when set; it must not hold on to
	// the record, whose text and fixed-width columns are views of slices
	// the next batch reuses.
	kept func(arrow.Record) error
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
	rec := p.record()
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
	str   []*textColumn  // nil where the column is not text
	fixed []*fixedColumn // nil where the column is not Int, Float or Timestamp
	line  *fixedColumn
	fp    *fixedColumn
	carry *fixedColumn
}

// stagedColumns are the columns of staged rows kept outside Arrow's
// builders: a partition's serve its piece in every chunk of a split, so
// that their slices are allocated and grown once.
type stagedColumns struct {
	text  []*textColumn  // by field; nil where the column is not text
	fixed []*fixedColumn // by field; nil where the column is not fixed-width (Bool)
}

// newStagedColumns are empty columns for staged rows whose leading
// columns have the given kinds.
func newStagedColumns(kinds []canon.Kind) *stagedColumns {
	n := len(kinds)
	sc := &stagedColumns{text: textColumns(kinds), fixed: make([]*fixedColumn, n+3)}
	for i, k := range kinds {
		switch k {
		case canon.Int, canon.Float, canon.Timestamp:
			sc.fixed[i] = &fixedColumn{width: 8}
		}
	}
	sc.fixed[n], sc.fixed[n+1], sc.fixed[n+2] = &fixedColumn{width: 8}, &fixedColumn{width: 16}, &fixedColumn{width: 4}
	return sc
}

// newStagedBuilders resolves the builders of staging piece p, whose
// leading columns have the given kinds, with columns sc (empty, and used
// by no other open piece).
func newStagedBuilders(p *pieceWriter, kinds []canon.Kind, sc *stagedColumns) *stagedBuilders {
	n := len(kinds)
	p.text, p.fixed = sc.text, sc.fixed
	return &stagedBuilders{kinds: kinds, cols: p.b.Fields()[:n], str: sc.text, fixed: sc.fixed[:n],
		line: sc.fixed[n], fp: sc.fixed[n+1], carry: sc.fixed[n+2]}
}

// textColumns are textColumns for the text columns among kinds, nil for
// the others.
func textColumns(kinds []canon.Kind) []*textColumn {
	str := make([]*textColumn, len(kinds))
	for i, k := range kinds {
		if k == canon.String {
			str[i] = &textColumn{}
		}
	}
	return str
}

// append appends one staged row.
func (sb *stagedBuilders) append(row []canon.Value, line int64, fp *[16]byte, carry uint32) {
	for i, k := range sb.kinds {
		switch v := &row[i]; {
		case sb.str[i] != nil:
			sb.str[i].append(v.Str, v.Null)
		case sb.fixed[i] != nil:
			switch {
			case v.Null:
				sb.fixed[i].appendNull()
			case k == canon.Float:
				sb.fixed[i].append64(math.Float64bits(v.Float))
			default:
				sb.fixed[i].append64(uint64(v.Int))
			}
		case v.Null:
			sb.cols[i].AppendNull()
		default:
			canon.AppendValue(sb.cols[i], k, *v)
		}
	}
	sb.line.append64(uint64(line))
	sb.fp.appendBytes(fp[:])
	sb.carry.append32(carry)
}

// record takes the n appended rows as a record of b's schema: the text
// columns' arrays from their textColumn, the others from b's builders.
func (p *pieceWriter) record() arrow.Record {
	if p.text == nil {
		return p.b.NewRecord()
	}
	fields := p.b.Fields()
	cols := make([]arrow.Array, len(fields))
	for i, f := range fields {
		switch {
		case i < len(p.text) && p.text[i] != nil:
			cols[i] = p.text[i].array()
		case i < len(p.fixed) && p.fixed[i] != nil:
			cols[i] = p.fixed[i].array(p.b.Schema().Field(i).Type)
		default:
			cols[i] = f.NewArray()
		}
	}
	rec := array.NewRecord(p.b.Schema(), cols, int64(p.n))
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
	valid   validity
	n       int
}

func (c *textColumn) append(s string, null bool) {
	if c.offsets == nil {
		c.offsets = append(make([]int32, 0, batchRows+1), 0)
	}
	if !null {
		c.data = append(c.data, s...)
	}
	c.valid.add(c.n, null)
	c.n++
	c.offsets = append(c.offsets, int32(len(c.data)))
}

// appendRows appends the given rows (ascending) of a; with nullable
// false, nulls become empty strings. Runs of consecutive rows, the common
// case, are copied as one piece of bytes, their offsets shifted and their
// validity bits copied.
func (c *textColumn) appendRows(a *array.String, rows []int, nullable bool) {
	nulls := a.NullN() > 0
	if nulls && !nullable {
		c.appendEach(a, rows, nullable)
		return
	}
	if c.offsets == nil {
		c.offsets = append(make([]int32, 0, batchRows+1), 0)
	}
	offs := a.ValueOffsets() // row i's bytes are vals[offs[i]:offs[i+1]]
	var vals []byte
	if buf := a.Data().Buffers()[2]; buf != nil {
		vals = buf.Bytes()
	}
	for k := 0; k < len(rows); {
		j := k + 1
		for j < len(rows) && rows[j] == rows[j-1]+1 {
			j++
		}
		from, to := rows[k], rows[j-1]+1
		if nulls && !nullsEmpty(a, offs, from, to) {
			c.appendEach(a, rows[k:j], nullable)
			k = j
			continue
		}
		shift := int32(len(c.data)) - offs[from]
		c.data = append(c.data, vals[offs[from]:offs[to]]...)
		for _, o := range offs[from+1 : to+1] {
			c.offsets = append(c.offsets, o+shift)
		}
		if nulls || c.valid.bits != nil {
			for i := from; i < to; i++ {
				c.valid.add(c.n+i-from, a.IsNull(i))
			}
		}
		c.n += to - from
		k = j
	}
}

// nullsEmpty reports whether the null rows of a in [from, to) hold no
// bytes, so that the run's bytes are those of its values.
func nullsEmpty(a *array.String, offs []int32, from, to int) bool {
	for i := from; i < to; i++ {
		if a.IsNull(i) && offs[i] != offs[i+1] {
			return false
		}
	}
	return true
}

// appendEach is appendRows row by row.
func (c *textColumn) appendEach(a *array.String, rows []int, nullable bool) {
	for _, i := range rows {
		if a.IsNull(i) {
			c.append("", nullable)
		} else {
			c.append(a.Value(i), false)
		}
	}
}

// array returns the values appended since the last call as a string array
// and starts over, keeping its slices: the array is a view of them, valid
// until the next append (a piece writes it out before). Reusing them
// spares allocating, clearing and growing a batch's bytes every batch.
func (c *textColumn) array() arrow.Array {
	if c.offsets == nil {
		c.offsets = []int32{0}
	}
	offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(c.offsets))
	data := array.NewData(arrow.BinaryTypes.String, c.n, []*memory.Buffer{c.valid.buffer(c.n), offs, memory.NewBufferBytes(c.data)}, nil, c.valid.nulls, 0)
	defer data.Release()
	arr := array.NewStringData(data)
	*c = textColumn{offsets: c.offsets[:1], data: c.data[:0]}
	return arr
}

// validity is a column's validity bitmap as Arrow lays it out; nil bits
// while no value is null.
type validity struct {
	bits  []byte
	nulls int
}

// add records whether value n, the one after the first n, is null.
func (v *validity) add(n int, null bool) {
	if null {
		if v.bits == nil {
			v.bits = make([]byte, (n+8)/8, max(128, (n+8)/4))
			for i := range n {
				v.bits[i/8] |= 1 << (i % 8)
			}
		}
		v.nulls++
	}
	if v.bits != nil {
		if n/8 >= len(v.bits) {
			v.bits = append(v.bits, 0)
		}
		if !null {
			v.bits[n/8] |= 1 << (n % 8)
		}
	}
}

// buffer is the bitmap of n values, nil when none is null.
func (v *validity) buffer(n int) *memory.Buffer {
	if v.bits == nil {
		return nil
	}
	// The IPC writer writes a bitmap as long as it is, up to its minimum
	// padded to 64 bytes: it is sized as a StringBuilder sizes its own
	// (bits for the next power of two of its values), so that a batch
	// encodes to the bytes it would through one.
	want := min((bitutil.NextPowerOf2(n)+7)/8, (n+511)/512*64)
	for len(v.bits) < want {
		v.bits = append(v.bits, 0)
	}
	return memory.NewBufferBytes(v.bits[:want])
}

// fixedColumn collects a fixed-width column's values (width bytes each,
// in native byte order as Arrow has them) for staged rows, which only
// the finalizer reads: Arrow's builders check capacity and set a
// validity bit per value and allocate fresh buffers every batch.
type fixedColumn struct {
	width int
	data  []byte
	valid validity
	n     int
}

// grow sizes the column for a batch once, on its first value.
func (c *fixedColumn) grow() {
	c.data = make([]byte, 0, batchRows*c.width)
}

func (c *fixedColumn) append64(x uint64) {
	if c.data == nil {
		c.grow()
	}
	c.data = binary.NativeEndian.AppendUint64(c.data, x)
	c.valid.add(c.n, false)
	c.n++
}

func (c *fixedColumn) append32(x uint32) {
	if c.data == nil {
		c.grow()
	}
	c.data = binary.NativeEndian.AppendUint32(c.data, x)
	c.valid.add(c.n, false)
	c.n++
}

func (c *fixedColumn) appendBytes(b []byte) {
	if c.data == nil {
		c.grow()
	}
	c.data = append(c.data, b...)
	c.valid.add(c.n, false)
	c.n++
}

func (c *fixedColumn) appendNull() {
	if c.data == nil {
		c.grow()
	}
	var zero [16]byte
	c.data = append(c.data, zero[:c.width]...)
	c.valid.add(c.n, true)
	c.n++
}

// array returns the values appended since the last call as an array of
// type t and starts over, keeping its slices: as textColumn.array, the
// array is a view valid until the next append.
func (c *fixedColumn) array(t arrow.DataType) arrow.Array {
	data := array.NewData(t, c.n, []*memory.Buffer{c.valid.buffer(c.n), memory.NewBufferBytes(c.data)}, nil, c.valid.nulls, 0)
	defer data.Release()
	arr := array.MakeFromData(data)
	*c = fixedColumn{width: c.width, data: c.data[:0]}
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
	// A copy: value may be a view of a reader's buffer (borrowFields).
	c.Failures = append(c.Failures, FailureCount{Column: column, Reason: reason, Count: 1, Line: line, Example: strings.Clone(clip(value, 200)), Skip: skip})
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
		cw     *chunkWriter
		row    mapping.Row
		err    error
		recs   int
		staged = make([]*stagedColumns, cfg.Shards+1) // by partition
	)
	defer func() {
		if cw != nil {
			cw.abort()
		}
	}()
	// Stage keeps no field past the next record (values are copied into
	// the builders, failure examples cloned): readers that can may lend
	// their buffer rather than copy every record.
	if b, ok := rd.(interface{ borrowFields() }); ok {
		b.borrowFields()
	}
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
				if staged[part] == nil {
					staged[part] = newStagedColumns(kinds)
				}
				pw.sb = newStagedBuilders(pw, kinds, staged[part])
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
