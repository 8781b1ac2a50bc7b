package ingest

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/mapping"
)

// FinalCounts are one source's counts in one partition after duplicates
// are removed. Accepted and Duplicates count records; Rows counts table
// rows written (profiles write a row per attribute).
type FinalCounts struct {
	Accepted   int64 `json:"accepted"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"` // values that could not be carried forward
	Rows       int64 `json:"rows"`
	MinTS      int64 `json:"min_ts"` // Unix ms of the table's first timestamp column, when Accepted > 0
	MaxTS      int64 `json:"max_ts"`
	// ByType counts accepted events by type (events table only).
	ByType map[string]int64 `json:"by_type,omitempty"`
}

// Finalizer completes one partition of one table: it reads the staged rows
// of every source's splits in input order (source, then line), drops
// records that are exact duplicates of an earlier record of the table
// (counted, never silently), carries missing values forward within a user
// in that order, and writes each source's rows in the table's schema.
// Memory is a fingerprint per record of the partition plus, with carry
// forward, the carried values per user.
type Finalizer struct {
	table   *canon.Table
	kinds   []canon.Kind
	progs   []*mapping.Program
	mem     memory.Allocator
	outs    []*pieceWriter
	rejects []*pieceWriter
	dir     string
	counts  []FinalCounts
	types   [][]typeCount // by source: accepted events by type, for counts at Close
	seen    fpSet
	kept    []int                    // rows of a batch that copyKept keeps
	carried map[string][]canon.Value // user -> last values of carry-forward columns
	carryOn uint32                   // columns any source carries forward
	tsCol   int
	typeCol int // events: the type column, else -1
	user    int
	row     []canon.Value

	last struct {
		src  int
		line int64
		dup  bool
		rej  bool
		ok   bool
	}
}

// NewFinalizer returns a finalizer of the table of progs (one per source,
// in source order; a nil entry is a source with no rows here) writing into
// dir.
func NewFinalizer(t *canon.Table, progs []*mapping.Program, dir string, mem memory.Allocator) (*Finalizer, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	f := &Finalizer{table: t, kinds: t.Kinds(), progs: progs, mem: mem, dir: dir,
		counts: make([]FinalCounts, len(progs)), types: make([][]typeCount, len(progs)),
		tsCol: -1, typeCol: -1, user: t.Index("user_id"), row: make([]canon.Value, len(t.Columns))}
	if t == canon.EventsTable {
		f.typeCol = t.Index("type")
	}
	for i, c := range t.Columns {
		if c.Kind == canon.Timestamp {
			f.tsCol = i
			break
		}
	}
	for _, p := range progs {
		if p == nil {
			continue
		}
		for i, c := range p.Source.Columns {
			if c != nil && c.Missing == mapping.CarryForward {
				f.carryOn |= 1 << uint(i)
			}
		}
	}
	if f.carryOn != 0 {
		f.carried = map[string][]canon.Value{}
	}
	for i := range progs {
		w, err := newPieceWriter(filepath.Join(dir, fmt.Sprintf("out-%04d.arrow", i)), t.Schema, mem)
		if err != nil {
			f.abort()
			return nil, err
		}
		w.text = textColumns(f.kinds)
		f.outs = append(f.outs, w)
	}
	f.rejects = make([]*pieceWriter, len(progs))
	return f, nil
}

// Reserve makes room for the fingerprints of about records records, so
// that the set of seen records is sized once instead of doubling (and
// rehashing every fingerprint) as they come.
func (f *Finalizer) Reserve(records int) { f.seen.reserve(min(records, 1<<28)) }

// Distinct is the number of distinct records added so far.
func (f *Finalizer) Distinct() int {
	if f.seen.hasZero {
		return f.seen.n + 1
	}
	return f.seen.n
}

// StagedError is a staged object that cannot be decoded (corrupt, or of
// another schema): retrying cannot help. Add returns other errors, such as
// a full local disk while writing the partition's rows, unwrapped, since a
// retry elsewhere may succeed.
type StagedError struct{ Err error }

func (e *StagedError) Error() string { return "staged rows: " + e.Err.Error() }
func (e *StagedError) Unwrap() error { return e.Err }

// Add reads one staged object of source src; objects must come in input
// order. An object that cannot be decoded is a *StagedError.
func (f *Finalizer) Add(src int, staged []byte) error {
	var werr error // from writing, not decoding
	err := f.each(src, staged, &werr)
	switch {
	case werr != nil:
		return werr
	case err != nil:
		return &StagedError{Err: err}
	}
	return nil
}

func (f *Finalizer) each(src int, staged []byte, werr *error) error {
	n := len(f.kinds)
	return arrowio.Each(staged, StagingSchema(f.table), f.mem, func(rec arrow.Record) error {
		cols := rec.Columns()
		lines := cols[n].(*array.Int64)
		fps := cols[n+1].(*array.FixedSizeBinary)
		carry := cols[n+2].(*array.Uint32)
		if f.carryOn == 0 {
			// Nothing is carried forward: only the type and time columns
			// are read row by row, and the kept rows are copied column by
			// column, never through canon.Value.
			if err := f.copyKept(src, cols, lines, fps); err != nil {
				*werr = err
				return err
			}
			return nil
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			if i%touchRows == 0 {
				f.seen.touch(fps, i, min(i+touchRows, int(rec.NumRows())))
			}
			for j, k := range f.kinds {
				f.row[j] = canon.ValueAt(cols[j], k, i)
			}
			var fp [16]byte
			copy(fp[:], fps.Value(i))
			if err := f.add(src, lines.Value(i), fp, carry.Value(i)); err != nil {
				*werr = err
				return err
			}
		}
		return nil
	})
}

// copyKept is add for a batch without carry forward.
func (f *Finalizer) copyKept(src int, cols []arrow.Array, lines *array.Int64, fps *array.FixedSizeBinary) error {
	f.kept = f.kept[:0]
	// The type and time columns, read row by row for the counts.
	var typ *array.String
	var ts *array.Timestamp
	if f.typeCol >= 0 {
		typ = cols[f.typeCol].(*array.String)
	}
	if f.tsCol >= 0 {
		ts = cols[f.tsCol].(*array.Timestamp)
	}
	for i := 0; i < lines.Len(); i++ {
		if i%touchRows == 0 {
			f.seen.touch(fps, i, min(i+touchRows, lines.Len()))
		}
		if typ != nil {
			f.row[f.typeCol] = canon.Value{Null: true}
			if !typ.IsNull(i) {
				f.row[f.typeCol] = canon.Value{Str: typ.Value(i)}
			}
		}
		if ts != nil {
			f.row[f.tsCol] = canon.Value{Null: true}
			if !ts.IsNull(i) {
				f.row[f.tsCol] = canon.Value{Int: int64(ts.Value(i))}
			}
		}
		var fp [16]byte
		copy(fp[:], fps.Value(i))
		if f.keep(src, lines.Value(i), fp) {
			f.kept = append(f.kept, i)
		}
	}
	w := f.outs[src]
	for kept := f.kept; len(kept) > 0; {
		m := min(len(kept), batchRows-w.n)
		for j := range f.kinds {
			if t := w.text[j]; t != nil {
				t.appendRows(cols[j].(*array.String), kept[:m], f.table.Columns[j].Nullable)
				continue
			}
			appendRows(w.b.Field(j), cols[j], kept[:m], f.table.Columns[j].Nullable)
		}
		kept = kept[m:]
		w.n += m - 1
		w.rows += int64(m - 1)
		if err := w.done(); err != nil {
			return err
		}
	}
	return nil
}

// appendRows appends rows of a (of b's type) to b; with nullable false,
// nulls become zero values, as in add.
func appendRows(b array.Builder, a arrow.Array, rows []int, nullable bool) {
	b.Reserve(len(rows))
	null := func(b array.Builder) {
		if nullable {
			b.AppendNull()
		} else {
			b.AppendEmptyValue()
		}
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		a := a.(*array.String)
		for _, i := range rows {
			if a.IsNull(i) {
				null(b)
			} else {
				b.Append(a.Value(i))
			}
		}
	case *array.TimestampBuilder:
		a := a.(*array.Timestamp)
		for _, i := range rows {
			if a.IsNull(i) {
				null(b)
			} else {
				b.UnsafeAppend(a.Value(i))
			}
		}
	case *array.Int64Builder:
		a := a.(*array.Int64)
		for _, i := range rows {
			if a.IsNull(i) {
				null(b)
			} else {
				b.UnsafeAppend(a.Value(i))
			}
		}
	case *array.Float64Builder:
		a := a.(*array.Float64)
		for _, i := range rows {
			if a.IsNull(i) {
				null(b)
			} else {
				b.UnsafeAppend(a.Value(i))
			}
		}
	case *array.BooleanBuilder:
		a := a.(*array.Boolean)
		for _, i := range rows {
			if a.IsNull(i) {
				null(b)
			} else {
				b.UnsafeAppend(a.Value(i))
			}
		}
	default:
		panic(fmt.Sprintf("finalize: no copy for %T", b))
	}
}

// keep decides whether the row of a record at line of source src is
// kept, counting it: not when the record is a duplicate of an earlier
// one. f.row must hold the type and time columns.
func (f *Finalizer) keep(src int, line int64, fp [16]byte) bool {
	c := &f.counts[src]
	l := &f.last
	same := l.ok && l.src == src && l.line == line // another attribute row of the same record
	if !same {
		l.src, l.line, l.ok, l.dup, l.rej = src, line, true, false, false
		if p := f.progs[src]; p == nil || p.Source.Dedupe {
			l.dup = !f.seen.add(fp)
		}
		if l.dup {
			c.Duplicates++
			return false
		}
	} else if l.dup || l.rej {
		return false
	}
	f.count(src, same)
	return true
}

// count counts a kept row of source src (and its record, unless same).
func (f *Finalizer) count(src int, same bool) {
	c := &f.counts[src]
	if !same {
		c.Accepted++
		if f.typeCol >= 0 {
			f.countType(src, f.row[f.typeCol].Str)
		}
		if f.tsCol >= 0 && !f.row[f.tsCol].Null {
			ts := f.row[f.tsCol].Int
			if c.Accepted == 1 || ts < c.MinTS {
				c.MinTS = ts
			}
			if c.Accepted == 1 || ts > c.MaxTS {
				c.MaxTS = ts
			}
		}
	}
	c.Rows++
}

// typeCount is the count of one event type.
type typeCount struct {
	name string
	n    int64
}

// countType counts an accepted event of type t for FinalCounts.ByType,
// which Close fills: a few types, so a short list to scan is cheaper
// than hashing each row's type.
func (f *Finalizer) countType(src int, t string) {
	types := f.types[src]
	for i := range types {
		if types[i].name == t {
			types[i].n++
			return
		}
	}
	f.types[src] = append(types, typeCount{name: strings.Clone(t), n: 1})
}

func (f *Finalizer) add(src int, line int64, fp [16]byte, carry uint32) error {
	c := &f.counts[src]
	l := &f.last
	same := l.ok && l.src == src && l.line == line // another attribute row of the same record
	if !same {
		l.src, l.line, l.ok, l.dup, l.rej = src, line, true, false, false
		if p := f.progs[src]; p == nil || p.Source.Dedupe {
			l.dup = !f.seen.add(fp)
		}
		if l.dup {
			c.Duplicates++
			return nil
		}
	} else if l.dup || l.rej {
		return nil
	}
	if carry != 0 {
		if col, ok := f.carryForward(src, carry); !ok {
			l.rej = true
			c.Rejected++
			return f.reject(src, line, fp, col, "missing "+f.table.Columns[col].Name)
		}
	}
	if f.carried != nil && f.user >= 0 && !f.row[f.user].Null {
		f.remember()
	}
	f.count(src, same)
	w := f.outs[src]
	for j, k := range f.kinds {
		v := f.row[j]
		if v.Null && !f.table.Columns[j].Nullable {
			v = canon.Value{}
		}
		if t := w.text[j]; t != nil {
			t.append(v.Str, v.Null)
			continue
		}
		canon.AppendValue(w.b.Field(j), k, v)
	}
	return w.done()
}

// carryForward fills the columns marked in carry from the user's last
// values, else their fill values; it returns the first column it cannot
// fill.
func (f *Finalizer) carryForward(src int, carry uint32) (int, bool) {
	var last []canon.Value
	if f.user >= 0 && !f.row[f.user].Null {
		last = f.carried[f.row[f.user].Str]
	}
	for j := range f.kinds {
		if carry&(1<<uint(j)) == 0 {
			continue
		}
		if last != nil && !last[j].Null {
			f.row[j] = last[j]
			continue
		}
		v, ok := f.progs[src].CarryFill(j)
		if !ok {
			return j, false
		}
		f.row[j] = v
	}
	return 0, true
}

func (f *Finalizer) remember() {
	u := f.row[f.user].Str
	last := f.carried[u]
	if last == nil {
		last = make([]canon.Value, len(f.kinds))
		for j := range last {
			last[j].Null = true
		}
		f.carried[u] = last
	}
	for j := range f.kinds {
		if f.carryOn&(1<<uint(j)) != 0 && !f.row[j].Null {
			last[j] = f.row[j]
		}
	}
}

func (f *Finalizer) reject(src int, line int64, fp [16]byte, col int, reason string) error {
	w := f.rejects[src]
	if w == nil {
		var err error
		w, err = newPieceWriter(filepath.Join(f.dir, fmt.Sprintf("rejects-%04d.arrow", src)), RejectSchema, f.mem)
		if err != nil {
			return err
		}
		f.rejects[src] = w
	}
	name := f.table.Columns[col].Name
	if p := f.progs[src]; p != nil {
		name = p.CarryColumn(col)
	}
	appendReject(w.b, line, fp, name, reason, "")
	return w.done()
}

// Close writes the files and returns, per source, the rows file, the
// rejects file ("" when there are none) and the counts.
func (f *Finalizer) Close() (outs, rejects []string, counts []FinalCounts, err error) {
	defer f.abort()
	for src, types := range f.types {
		c := &f.counts[src]
		for _, t := range types {
			if c.ByType == nil {
				c.ByType = map[string]int64{}
			}
			c.ByType[t.name] += t.n
		}
	}
	f.types = nil
	for i, w := range f.outs {
		if err := w.close(); err != nil {
			return nil, nil, nil, err
		}
		outs = append(outs, w.path)
		r := ""
		if rw := f.rejects[i]; rw != nil {
			if err := rw.close(); err != nil {
				return nil, nil, nil, err
			}
			r = rw.path
		}
		rejects = append(rejects, r)
	}
	return outs, rejects, f.counts, nil
}

func (f *Finalizer) abort() {
	for _, w := range f.outs {
		w.abort()
	}
	for _, w := range f.rejects {
		if w != nil {
			w.abort()
		}
	}
}

// fpSet is a set of fingerprints: open addressing with linear probing,
// indexed by the fingerprint's own bits (it is a hash already), about 3×
// faster than a map and 16 bytes a slot.
type fpSet struct {
	slots   [][16]byte
	n       int
	hasZero bool // the zero fingerprint, which marks an empty slot
	sink    byte // what touch read, so that its reads are kept
}

// add inserts fp and reports whether it was new.
func (s *fpSet) add(fp [16]byte) bool {
	if fp == ([16]byte{}) {
		had := s.hasZero
		s.hasZero = true
		return !had
	}
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := binary.LittleEndian.Uint64(fp[:8]) & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case fp:
			return false
		case [16]byte{}:
			s.slots[i] = fp
			s.n++
			return true
		}
	}
}

// touchRows is how many fingerprints touch reads ahead of their adds.
const touchRows = 32

// touch reads the home slot of the fingerprints fps[from:to]. The set
// is far larger than the caches, so each add waits on a miss; these reads
// are independent of each other, so their misses overlap, and the adds that
// follow find their slots cached (about a third less CPU in add).
func (s *fpSet) touch(fps *array.FixedSizeBinary, from, to int) {
	if len(s.slots) == 0 {
		return
	}
	mask := uint64(len(s.slots) - 1)
	var x byte
	for i := from; i < to; i++ {
		x ^= s.slots[binary.LittleEndian.Uint64(fps.Value(i)[:8])&mask][0]
	}
	s.sink = x
}

func (s *fpSet) grow() { s.resize(max(1<<16, 2*len(s.slots))) }

// reserve makes room for n fingerprints without growing.
func (s *fpSet) reserve(n int) {
	size := 1 << 16
	for 3*size < 4*n {
		size *= 2
	}
	if size > len(s.slots) {
		s.resize(size)
	}
}

// resize rehashes the set into size slots, a power of two.
func (s *fpSet) resize(size int) {
	old := s.slots
	s.slots = make([][16]byte, size)
	mask := uint64(len(s.slots) - 1)
	for _, fp := range old {
		if fp == ([16]byte{}) {
			continue
		}
		i := binary.LittleEndian.Uint64(fp[:8]) & mask
		for s.slots[i] != ([16]byte{}) {
			i = (i + 1) & mask
		}
		s.slots[i] = fp
	}
}
