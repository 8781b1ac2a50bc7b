package strategy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// ScoredMagic opens every encoded shard of scored users (EncodeScored).
const ScoredMagic = "PFSCORED"

// ScoredVersion is the layout EncodeScored writes and DecodeScored reads.
const ScoredVersion = 1

// EncodeScored writes a shard's scored users in a compact binary layout
// that the budget and assignment passes decode many times (once per round
// and shard): gzip JSON was most of the decide stage's CPU
// (docs/PERFORMANCE.md). Floats are stored as their IEEE 754 bits, so
// every value (NaN payloads, ±Inf, -0 included) and every string byte
// round-trips exactly, and a plan is the same whether its users come from
// the object or from a worker's cache of what it scored.
//
// Layout, version 1 (integers are unsigned LEB128 varints "uv", or zigzag
// varints "sv" as encoding/binary writes them; floats 8 bytes little
// endian):
//
//	magic    "PFSCORED"
//	version  uv (1)
//	strings  uv count, then count × (uv length, bytes): the shard's
//	         distinct segments, reasons, groups, facts and option sources;
//	         entry 0 is always ""
//	ids      uv length, bytes: every user id, concatenated in user order
//	users    uv count, uv total options, then count × user
//	user     uv id length, uv segment, 1 byte status, uv why, uv group,
//	         f64 prop, f64 basket, sv pick, uv fact 0, uv fact 1,
//	         uv options, then options × option
//	option   sv offer, f64 value, f64 revenue, f64 cost, f64 face,
//	         uv source, 1 byte hopeful (0 or 1)
//
// String fields are indices into the strings. An empty Options decodes as
// nil.
func EncodeScored(users []Scored) []byte {
	index := map[string]uint64{"": 0}
	table := []string{""}
	ref := func(s string) {
		if _, ok := index[s]; !ok {
			index[s] = uint64(len(table))
			table = append(table, s)
		}
	}
	idLen, opts, size := 0, 0, 0
	for i := range users {
		u := &users[i]
		ref(u.Segment)
		ref(u.Why)
		ref(u.Group)
		ref(u.Facts[0])
		ref(u.Facts[1])
		for _, o := range u.Options {
			ref(o.Source)
		}
		idLen += len(u.UserID)
		opts += len(u.Options)
		size += 40 + len(u.Options)*48
	}
	for _, s := range table {
		size += len(s) + 2
	}
	b := make([]byte, 0, len(ScoredMagic)+32+idLen+size)
	b = append(b, ScoredMagic...)
	b = binary.AppendUvarint(b, ScoredVersion)
	b = binary.AppendUvarint(b, uint64(len(table)))
	for _, s := range table {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(idLen))
	for i := range users {
		b = append(b, users[i].UserID...)
	}
	b = binary.AppendUvarint(b, uint64(len(users)))
	b = binary.AppendUvarint(b, uint64(opts))
	f64 := func(b []byte, f float64) []byte { return binary.LittleEndian.AppendUint64(b, math.Float64bits(f)) }
	for i := range users {
		u := &users[i]
		b = binary.AppendUvarint(b, uint64(len(u.UserID)))
		b = binary.AppendUvarint(b, index[u.Segment])
		b = append(b, byte(u.Status))
		b = binary.AppendUvarint(b, index[u.Why])
		b = binary.AppendUvarint(b, index[u.Group])
		b = f64(b, u.Prop)
		b = f64(b, u.Basket)
		b = binary.AppendVarint(b, int64(u.Pick))
		b = binary.AppendUvarint(b, index[u.Facts[0]])
		b = binary.AppendUvarint(b, index[u.Facts[1]])
		b = binary.AppendUvarint(b, uint64(len(u.Options)))
		for _, o := range u.Options {
			b = binary.AppendVarint(b, int64(o.Offer))
			b = f64(b, o.Value)
			b = f64(b, o.Revenue)
			b = f64(b, o.Cost)
			b = f64(b, o.Face)
			b = binary.AppendUvarint(b, index[o.Source])
			hopeful := byte(0)
			if o.Hopeful {
				hopeful = 1
			}
			b = append(b, hopeful)
		}
	}
	return b
}

// errTruncated is a scored shard that ends early or claims more than it
// holds.
var errTruncated = errors.New("scored users: truncated")

// scoredReader decodes EncodeScored's layout, every read checked against
// the end of the data; the first failure sticks.
type scoredReader struct {
	data []byte
	pos  int
	err  error
}

func (r *scoredReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *scoredReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.data[r.pos:])
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.pos += n
	return v
}

func (r *scoredReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.data[r.pos:])
	if n <= 0 {
		r.fail(errTruncated)
		return 0
	}
	r.pos += n
	return v
}

// count reads a length that needs at least min bytes per unit in what is
// left, so corrupt data cannot ask for a huge allocation.
func (r *scoredReader) count(min int) int {
	v := r.uvarint()
	if r.err == nil && v > uint64((len(r.data)-r.pos)/min) {
		r.fail(errTruncated)
		return 0
	}
	return int(v)
}

func (r *scoredReader) bytes(n int) []byte {
	if r.err != nil || n > len(r.data)-r.pos {
		r.fail(errTruncated)
		return nil
	}
	b := r.data[r.pos : r.pos+n]
	r.pos += n
	return b
}

func (r *scoredReader) byte() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *scoredReader) f64() float64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

func (r *scoredReader) str(table []string) string {
	i := r.uvarint()
	if r.err == nil && i >= uint64(len(table)) {
		r.fail(fmt.Errorf("scored users: string %d of %d", i, len(table)))
		return ""
	}
	if r.err != nil {
		return ""
	}
	return table[i]
}

// DecodeScored reads what EncodeScored wrote. The users share one backing
// array of options and one string of ids, so a shard costs a handful of
// allocations.
func DecodeScored(data []byte) ([]Scored, error) {
	if len(data) < len(ScoredMagic) || string(data[:len(ScoredMagic)]) != ScoredMagic {
		return nil, errors.New("scored users: not an encoded shard (magic)")
	}
	r := &scoredReader{data: data, pos: len(ScoredMagic)}
	if v := r.uvarint(); r.err == nil && v != ScoredVersion {
		return nil, fmt.Errorf("scored users: version %d, want %d", v, ScoredVersion)
	}
	table := make([]string, r.count(1))
	for i := range table {
		table[i] = string(r.bytes(r.count(1)))
	}
	if r.err == nil && (len(table) == 0 || table[0] != "") {
		r.fail(errors.New("scored users: string 0 is not empty"))
	}
	ids := string(r.bytes(r.count(1)))
	users := make([]Scored, r.count(25)) // a user takes at least 25 bytes, an option 35
	opts := make([]Option, r.count(35))
	idPos, optPos := 0, 0
	for i := range users {
		if r.err != nil {
			break
		}
		u := &users[i]
		n := int(r.uvarint())
		if n < 0 || n > len(ids)-idPos {
			r.fail(errTruncated)
			break
		}
		u.UserID = ids[idPos : idPos+n]
		idPos += n
		u.Segment = r.str(table)
		u.Status = Status(r.byte())
		u.Why = r.str(table)
		u.Group = r.str(table)
		u.Prop = r.f64()
		u.Basket = r.f64()
		u.Pick = int(r.varint())
		u.Facts[0] = r.str(table)
		u.Facts[1] = r.str(table)
		k := int(r.uvarint())
		if k < 0 || k > len(opts)-optPos {
			r.fail(fmt.Errorf("scored users: more options than the %d declared", len(opts)))
			break
		}
		if k == 0 {
			continue
		}
		// A full slice expression, so an append to one user's options
		// cannot overwrite the next user's.
		u.Options = opts[optPos : optPos+k : optPos+k]
		optPos += k
		for j := range u.Options {
			o := &u.Options[j]
			o.Offer = int(r.varint())
			o.Value = r.f64()
			o.Revenue = r.f64()
			o.Cost = r.f64()
			o.Face = r.f64()
			o.Source = r.str(table)
			switch h := r.byte(); h {
			case 0:
			case 1:
				o.Hopeful = true
			default:
				r.fail(fmt.Errorf("scored users: hopeful byte %d", h))
			}
		}
	}
	if r.err == nil && (idPos != len(ids) || optPos != len(opts)) {
		r.fail(errors.New("scored users: ids or options left over"))
	}
	if r.err == nil && r.pos != len(data) {
		r.fail(fmt.Errorf("scored users: %d bytes after the last user", len(data)-r.pos))
	}
	if r.err != nil {
		return nil, r.err
	}
	return users, nil
}

// ScoredSize is about how many bytes users hold in memory: what a cache of
// decoded shards counts against its bound.
func ScoredSize(users []Scored) int64 {
	n := int64(len(users)) * int64(unsafe.Sizeof(Scored{}))
	for i := range users {
		n += int64(len(users[i].UserID)) + int64(len(users[i].Options))*int64(unsafe.Sizeof(Option{}))
	}
	return n
}
