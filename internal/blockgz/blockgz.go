// Package blockgz writes and indexes block gzip: a gzip file of
// independent members, each cut at a record boundary and carrying in its
// header's extra field its own compressed size, text size and line count.
//
// Any gzip reader reads such a file (RFC 1952 allows members to follow one
// another; Python's gzip, pandas and `gzip -d` all read them), and a
// reader that knows the extra field can split it without inflating it:
// Blocks walks the members' headers, a few bytes each, and gives every
// member's compressed range, text offset and first line, so that parallel
// readers each inflate only their own members. A single-stream gzip file
// can be split only by inflating it once from the start, which is one
// core's work however many there are. The idea is BGZF's (SAM/BAM
// tools), with larger members and the text offsets and lines that record
// positions in error messages need.
package blockgz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/flate"
)

// DefaultBlockBytes is the text a member holds, about: small enough that
// a split of 64 MiB is a handful of members, large enough that a file of
// gigabytes has a few hundred headers to read.
const DefaultBlockBytes = 8 << 20

// The extra subfield of a member's header: 'P', 'F', 24 bytes: the
// member's compressed size (header to trailer), its text bytes and its
// line feeds, each a little-endian uint64.
const (
	si1, si2   = 'P', 'F'
	fieldBytes = 24
	headerLen  = 10 + 2 + 4 + fieldBytes // fixed header, XLEN, subfield header, field
	trailerLen = 8
)

// Writer writes block gzip. Text written to it is cut into members of
// about BlockBytes at record boundaries: line feeds, and for CSV only
// those after an even number of double quotes, so a quoted field's line
// break never ends a member. It buffers one member's text.
type Writer struct {
	w     io.Writer
	block int
	csv   bool
	buf   []byte
	// scanned is how far buf was scanned for record boundaries, and odd
	// the quote parity there.
	scanned int
	odd     bool
	members int // written
	zbuf    bytes.Buffer
	fw      *flate.Writer
	err     error
}

// NewWriter returns a writer of block gzip to w at compression level
// (flate's, e.g. flate.BestSpeed) with members of about blockBytes of
// text (DefaultBlockBytes when zero or less); csv says records end only at
// line feeds outside double quotes.
func NewWriter(w io.Writer, level, blockBytes int, csv bool) (*Writer, error) {
	if blockBytes <= 0 {
		blockBytes = DefaultBlockBytes
	}
	bw := &Writer{w: w, block: blockBytes, csv: csv}
	fw, err := flate.NewWriter(&bw.zbuf, level)
	if err != nil {
		return nil, err
	}
	bw.fw = fw
	return bw, nil
}

// Write buffers p and writes every member it completes.
func (bw *Writer) Write(p []byte) (int, error) {
	if bw.err != nil {
		return 0, bw.err
	}
	bw.buf = append(bw.buf, p...)
	if bw.err = bw.flushBlocks(); bw.err != nil {
		return 0, bw.err
	}
	return len(p), nil
}

// flushBlocks writes a member for every record boundary found at or
// after BlockBytes of buffered text.
func (bw *Writer) flushBlocks() error {
	for len(bw.buf) >= bw.block {
		cut := bw.scan()
		if cut == 0 {
			return nil // the record crossing the block's end is not complete yet
		}
		if err := bw.member(bw.buf[:cut]); err != nil {
			return err
		}
		n := copy(bw.buf, bw.buf[cut:])
		bw.buf = bw.buf[:n]
		bw.scanned -= cut
	}
	return nil
}

// scan returns the first record boundary in buf at or after BlockBytes,
// or 0 when there is none yet.
func (bw *Writer) scan() int {
	for {
		b := bw.buf[bw.scanned:]
		k := bytes.IndexByte(b, '\n')
		if k < 0 {
			return 0 // a record still being written: scanned again, whole, once its line ends
		}
		if bw.csv && bytes.Count(b[:k], []byte{'"'})%2 == 1 {
			bw.odd = !bw.odd
		}
		bw.scanned += k + 1
		if !bw.odd && bw.scanned >= bw.block {
			return bw.scanned
		}
	}
}

// Close writes the last member (text without a final line feed
// included) and does not close the underlying writer. An empty file is
// one empty member, which gzip readers accept.
func (bw *Writer) Close() error {
	if bw.err != nil {
		return bw.err
	}
	if len(bw.buf) > 0 || bw.members == 0 {
		if bw.err = bw.member(bw.buf); bw.err != nil {
			return bw.err
		}
	}
	bw.buf, bw.err = nil, errClosed
	return nil
}

var errClosed = errors.New("blockgz: writer closed")

// member writes text as one gzip member.
func (bw *Writer) member(text []byte) error {
	bw.zbuf.Reset()
	bw.fw.Reset(&bw.zbuf)
	if _, err := bw.fw.Write(text); err != nil {
		return err
	}
	if err := bw.fw.Close(); err != nil {
		return err
	}
	var h [headerLen]byte
	h[0], h[1], h[2], h[3] = 0x1f, 0x8b, 8, 0x04 // gzip, deflate, FEXTRA
	h[9] = 255                                   // OS unknown; MTIME and XFL zero
	binary.LittleEndian.PutUint16(h[10:], 4+fieldBytes)
	h[12], h[13] = si1, si2
	binary.LittleEndian.PutUint16(h[14:], fieldBytes)
	binary.LittleEndian.PutUint64(h[16:], uint64(headerLen+bw.zbuf.Len()+trailerLen))
	binary.LittleEndian.PutUint64(h[24:], uint64(len(text)))
	binary.LittleEndian.PutUint64(h[32:], uint64(bytes.Count(text, []byte{'\n'})))
	var t [trailerLen]byte
	binary.LittleEndian.PutUint32(t[0:], crc32.ChecksumIEEE(text))
	binary.LittleEndian.PutUint32(t[4:], uint32(len(text)))
	for _, b := range [][]byte{h[:], bw.zbuf.Bytes(), t[:]} {
		if _, err := bw.w.Write(b); err != nil {
			return err
		}
	}
	bw.members++
	return nil
}

// Block is one member of a block gzip file.
type Block struct {
	Offset int64 // of the member's first byte in the file
	Size   int64 // compressed bytes, header to trailer
	Text   int64 // offset of the member's first text byte in the whole text
	Bytes  int64 // text bytes
	Line   int64 // 1-based line of the member's first text byte
	Lines  int64 // line feeds in its text
}

// ErrNotBlocked says a file is not block gzip: its first member carries no
// index. Such a file is read from its start.
var ErrNotBlocked = errors.New("not block gzip")

// Blocks reads the member headers of the block gzip file r of size bytes,
// one small read per member. A file whose first member has no index is
// ErrNotBlocked; one whose later members do not follow the index (a
// member without it, sizes that overrun the file) is an error naming the
// byte offset.
func Blocks(r io.ReaderAt, size int64) ([]Block, error) {
	var (
		blocks    []Block
		off, text int64
		line      int64 = 1
		h         [headerLen]byte
	)
	for off < size {
		if size-off < headerLen+trailerLen {
			return nil, notBlocked(len(blocks), off, "too short for a member")
		}
		if _, err := r.ReadAt(h[:], off); err != nil && !(errors.Is(err, io.EOF)) {
			return nil, fmt.Errorf("member at byte %d: %w", off, err)
		}
		if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 || h[3] != 0x04 ||
			binary.LittleEndian.Uint16(h[10:]) != 4+fieldBytes || h[12] != si1 || h[13] != si2 ||
			binary.LittleEndian.Uint16(h[14:]) != fieldBytes {
			return nil, notBlocked(len(blocks), off, "no block index in its header")
		}
		b := Block{Offset: off, Size: int64(binary.LittleEndian.Uint64(h[16:])), Text: text,
			Bytes: int64(binary.LittleEndian.Uint64(h[24:])), Line: line, Lines: int64(binary.LittleEndian.Uint64(h[32:]))}
		if b.Size < headerLen+trailerLen || b.Size > size-off || b.Bytes < 0 || b.Lines < 0 || b.Lines > b.Bytes {
			return nil, fmt.Errorf("member at byte %d: index says %d bytes, %d of text, %d lines: not this file's", off, b.Size, b.Bytes, b.Lines)
		}
		blocks = append(blocks, b)
		off += b.Size
		text += b.Bytes
		line += b.Lines
	}
	if len(blocks) == 0 {
		return nil, ErrNotBlocked
	}
	return blocks, nil
}

func notBlocked(n int, off int64, why string) error {
	if n == 0 {
		return ErrNotBlocked
	}
	return fmt.Errorf("member at byte %d: %s, after %d that have one", off, why, n)
}
