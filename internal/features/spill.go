package features

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unsafe"
)

// spillMagic starts a spilled Events; the version is in its last byte.
const spillMagic = "PFEVSPL1"

// Spill writes e in the form Unspill reads back: a worker's copy of a
// shard's events on its local disk between the profile and the features
// passes, when they do not fit in its memory. The events and the grouping
// are written as they are in memory (no encoding: reading them back is a
// copy), so a spill is only for the same binary on the same machine.
func (e *Events) Spill(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(spillMagic)
	grouped := uint64(0)
	if e.grouped {
		grouped = 1
	}
	putUints(bw, uint64(e.n), uint64(e.Skipped), grouped, uint64(len(e.chunks)))
	for _, d := range e.dicts() {
		putUints(bw, uint64(len(d.names)))
		for _, s := range d.names {
			putUints(bw, uint64(len(s)))
			bw.WriteString(s)
		}
	}
	for _, c := range e.chunks {
		putUints(bw, uint64(len(c)))
		bw.Write(asBytes(c))
	}
	putUints(bw, uint64(len(e.hints)))
	bw.Write(asBytes(e.hints))
	if e.grouped {
		for _, s := range [][]int32{e.byUser, e.starts, e.ranked} {
			putUints(bw, uint64(len(s)))
			bw.Write(asBytes(s))
		}
	}
	return bw.Flush()
}

// Unspill reads events Spill wrote.
func Unspill(r io.Reader) (*Events, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(spillMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != spillMagic {
		return nil, fmt.Errorf("events spill: not a spill (%q, %v)", magic, err)
	}
	var head [4]uint64
	if err := getUints(br, head[:]); err != nil {
		return nil, fmt.Errorf("events spill: %w", err)
	}
	e := &Events{n: int(head[0]), Skipped: int64(head[1]), grouped: head[2] == 1}
	for _, d := range e.dicts() {
		var n [1]uint64
		if err := getUints(br, n[:]); err != nil {
			return nil, fmt.Errorf("events spill: %w", err)
		}
		d.names = make([]string, n[0])
		var buf []byte
		for i := range d.names {
			var l [1]uint64
			if err := getUints(br, l[:]); err != nil {
				return nil, fmt.Errorf("events spill: %w", err)
			}
			if uint64(cap(buf)) < l[0] {
				buf = make([]byte, l[0])
			}
			buf = buf[:l[0]]
			if _, err := io.ReadFull(br, buf); err != nil {
				return nil, fmt.Errorf("events spill: %w", err)
			}
			d.names[i] = string(buf)
		}
	}
	e.chunks = make([][]event, head[3])
	for k := range e.chunks {
		c, err := readSlice[event](br, 1<<chunkBits)
		if err != nil {
			return nil, fmt.Errorf("events spill: chunk %d: %w", k, err)
		}
		e.chunks[k] = c
	}
	var err error
	if e.hints, err = readSlice[itemHint](br, 0); err != nil {
		return nil, fmt.Errorf("events spill: hints: %w", err)
	}
	if e.grouped {
		for _, s := range []*[]int32{&e.byUser, &e.starts, &e.ranked} {
			if *s, err = readSlice[int32](br, 0); err != nil {
				return nil, fmt.Errorf("events spill: grouping: %w", err)
			}
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, errors.New("events spill: data after the end")
	}
	return e, nil
}

// dicts are e's dictionaries, in the spill's order.
func (e *Events) dicts() []*dict {
	return []*dict{&e.users, &e.items, &e.cats, &e.texts, &e.orders}
}

// asBytes views s's elements as bytes.
func asBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(zero)))
}

// readSlice reads a length and that many elements written by asBytes,
// into a slice of at least capacity minCap.
func readSlice[T any](r io.Reader, minCap int) ([]T, error) {
	var n [1]uint64
	if err := getUints(r, n[:]); err != nil {
		return nil, err
	}
	s := make([]T, n[0], max(int(n[0]), minCap))
	_, err := io.ReadFull(r, asBytes(s))
	return s, err
}

func putUints(w io.Writer, vs ...uint64) {
	var b [8]byte
	for _, v := range vs {
		binary.LittleEndian.PutUint64(b[:], v)
		w.Write(b[:])
	}
}

func getUints(r io.Reader, vs []uint64) error {
	var b [8]byte
	for i := range vs {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return err
		}
		vs[i] = binary.LittleEndian.Uint64(b[:])
	}
	return nil
}
