package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// DefaultMaxRecordBytes bounds one CSV record or JSON line. A longer record
// almost always means an unbalanced quote that swallowed the rest of the
// file; the file is then bad input rather than one bad row.
const DefaultMaxRecordBytes = 8 << 20

const bom = "\ufeff"

// InvalidUTF8 is the reject reason of a record with text that is not
// UTF-8 (a file in Latin-1 or Windows-1252 rejects most of its rows
// with it, and so fails as a wrong file).
const InvalidUTF8 = "invalid utf-8"

// CSVOptions configure a CSVReader.
type CSVOptions struct {
	Delimiter byte // ',' when zero
	// Header, when set, are the column names and the reader starts at
	// Start, a record boundary. When nil the reader starts at the file's
	// beginning and reads the header first (after a byte-order mark).
	Header         []string
	Start          Position
	MaxRecordBytes int    // DefaultMaxRecordBytes when zero
	Source         string // file name, for errors
}

// CSVReader reads CSV records: any one-byte delimiter, fields in double
// quotes with "" for a quote and embedded delimiters and line breaks, CRLF
// or LF line ends, an optional byte-order mark. Blank lines are skipped.
//
// Records are framed by quote parity: a record ends at the first line
// feed after an even number of quotes. That is RFC 4180 framing for
// well-formed files, and the rule PlanText splits by, so a split always
// starts where a record starts. A record whose fields do not follow the
// quoting rules is returned with Err "csv syntax".
type CSVReader struct {
	br     *bufio.Reader
	delim  byte
	header []string
	pos    Position // of the next record
	max    int
	source string
	buf    []byte
	fields []string
	rec    Record
	fp     *fingerprinter
	borrow bool // fields are views of buf (borrowFields)
}

// borrowFields makes the records' fields views of the reader's buffer
// rather than copies: valid until the next call of Next, as Record says,
// which a caller that keeps no field past it (Stage) can afford. Other
// callers keep copies, which some of them hold on to.
func (c *CSVReader) borrowFields() { c.borrow = true }

// NewCSVReader returns a reader of r. Without opt.Header it reads the
// header and fails with a *BadInputError when there is none.
func NewCSVReader(r io.Reader, opt CSVOptions) (*CSVReader, error) {
	c := &CSVReader{br: bufio.NewReaderSize(r, 1<<16), delim: opt.Delimiter, max: opt.MaxRecordBytes,
		source: opt.Source, fp: newFingerprinter()}
	if c.delim == 0 {
		c.delim = ','
	}
	if c.max == 0 {
		c.max = DefaultMaxRecordBytes
	}
	if opt.Header != nil {
		c.header, c.pos = opt.Header, opt.Start
		if c.pos.Line == 0 {
			c.pos.Line = 1
		}
		return c, nil
	}
	c.pos = Position{Line: 1}
	if b, err := c.br.Peek(len(bom)); err == nil && string(b) == bom {
		c.br.Discard(len(bom))
		c.pos.Offset = int64(len(bom))
	}
	body, line, _, err := c.frame()
	if errors.Is(err, io.EOF) {
		return nil, &BadInputError{Source: c.source, Line: 1, Msg: "empty file, no header"}
	}
	if err != nil {
		return nil, err
	}
	fields, msg, n := splitFields(string(body), c.delim, nil)
	if msg != "" {
		return nil, &BadInputError{Source: c.source, Line: int(line), Msg: fmt.Sprintf("header: field %d: %s", n, msg)}
	}
	for i, f := range fields {
		fields[i] = strings.TrimSpace(strings.TrimPrefix(f, bom))
	}
	c.header = fields
	return c, nil
}

// Columns are the header's names.
func (c *CSVReader) Columns() []string { return c.header }

// Pos is the position of the next record; a CSV reader can resume anywhere.
func (c *CSVReader) Pos() (Position, bool) { return c.pos, true }

// Next returns the next record.
func (c *CSVReader) Next() (*Record, error) {
	body, line, quotes, err := c.frame()
	if err != nil {
		return nil, err
	}
	r := &c.rec
	*r = Record{Line: line}
	var s string
	if c.borrow {
		s = unsafe.String(unsafe.SliceData(body), len(body))
	} else {
		s = string(body)
	}
	var n int
	hashed := false // the fingerprint's input is in c.fp.buf
	if quotes == 0 && c.delim != '"' {
		c.fields, hashed = c.splitPlain(s)
	} else {
		c.fields, r.Err, n = splitFields(s, c.delim, c.fields[:0])
	}
	switch {
	case r.Err != "":
		r.ErrValue, r.Err = r.Err, "csv syntax"
		if n <= len(c.header) {
			r.ErrColumn = c.header[n-1]
		} else {
			r.ErrValue = fmt.Sprintf("field %d: %s", n, r.ErrValue)
		}
		r.FP = c.fp.bytes(body)
		return r, nil
	case len(c.fields) != len(c.header):
		r.Err, r.ErrValue = "field count", fmt.Sprintf("%d fields, header has %d", len(c.fields), len(c.header))
	case !utf8.Valid(body):
		// Text columns become Arrow strings, which must be UTF-8: a field
		// that is not is rejected, never silently repaired. (Delimiters and
		// quotes are ASCII, so the fields are valid when the record is:
		// one check of the record in the common case.)
		for i, f := range c.fields {
			if !utf8.ValidString(f) {
				r.Err, r.ErrColumn, r.ErrValue = InvalidUTF8, c.header[i], escaped(f)
				break
			}
		}
	}
	r.Fields = c.fields
	if hashed {
		r.FP = c.fp.bytes(c.fp.buf)
	} else {
		r.FP = c.fp.fields(c.fields, nil)
	}
	return r, nil
}

// splitPlain splits a record without quotes (the common case: then
// every field is plain) and lays out what fingerprinter.fields hashes
// in the same pass: each field's length as a uvarint, then its bytes.
// That is the record itself with a length byte before it and in place of
// each delimiter, while every field is shorter than 128 bytes (one-byte
// uvarints); hashed is false when one is not, and then c.fp.buf is not
// the fingerprint's input.
func (c *CSVReader) splitPlain(s string) (fields []string, hashed bool) {
	fields = c.fields[:0]
	buf := append(c.fp.buf[:0], 0)
	buf = append(buf, s...)
	hashed = true
	start := 0
	field := func(end int) {
		n := end - start
		if n >= 0x80 {
			hashed = false
		}
		buf[start] = byte(n) // where the delimiter before the field (or the leading byte) lands
		fields = append(fields, s[start:end])
		start = end + 1
	}
	// Eight bytes at a time (fields are short, too short for IndexByte's
	// setup to pay): a byte equal to the delimiter becomes zero, and
	// (y-1)&^y sets the top bit of every zero byte, and possibly of a
	// byte after one, hence the check.
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	d := uint64(c.delim) * ones
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		y := x ^ d
		for m := (y - ones) &^ y & tops; m != 0; m &= m - 1 {
			if j := i + bits.TrailingZeros64(m)/8; s[j] == c.delim {
				field(j)
			}
		}
	}
	for ; i < len(s); i++ {
		if s[i] == c.delim {
			field(i)
		}
	}
	field(len(s))
	c.fp.buf = buf
	return fields, hashed
}

// frame reads the next non-blank record's bytes, without its line end, and
// returns the line it starts on and the number of quotes in it. The bytes
// are valid until the next call.
func (c *CSVReader) frame() ([]byte, int64, int, error) {
	for {
		piece, err := c.br.ReadSlice('\n')
		quotes := bytes.Count(piece, []byte{'"'})
		rec, lines := piece, int64(1)
		if err != nil || quotes%2 != 0 || len(piece) > c.max {
			// Not one whole line in the reader's buffer, the common case
			// read in place: gather the record.
			if rec, quotes, err = c.gather(piece, quotes, err); err != nil {
				return nil, 0, 0, err
			}
			lines = int64(bytes.Count(rec, []byte{'\n'}))
		}
		line := c.pos.Line
		c.pos.Offset += int64(len(rec))
		c.pos.Line += lines
		body := rec
		if n := len(body); n > 0 && body[n-1] == '\n' {
			body = body[:n-1]
			if n := len(body); n > 0 && body[n-1] == '\r' {
				body = body[:n-1]
			}
		}
		if len(body) == 0 {
			continue // blank line
		}
		return body, line, quotes, nil
	}
}

// gather reads the rest of a record whose first piece (with its quotes
// and ReadSlice's error) is not all of it into c.buf: a record ends at
// the first line feed after an even number of quotes, or at the end.
func (c *CSVReader) gather(piece []byte, quotes int, err error) ([]byte, int, error) {
	c.buf = append(c.buf[:0], piece...)
	for {
		if len(c.buf) > c.max {
			return nil, 0, &BadInputError{Source: c.source, Line: int(c.pos.Line),
				Msg: fmt.Sprintf("record longer than %d bytes: a quote is not closed", c.max)}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if len(c.buf) == 0 {
				return nil, 0, io.EOF
			}
			return c.buf, quotes, nil
		case err != nil:
			return nil, 0, fmt.Errorf("%s: line %d: %w", c.source, c.pos.Line, err)
		case quotes%2 == 0:
			return c.buf, quotes, nil
		}
		piece, err = c.br.ReadSlice('\n')
		c.buf = append(c.buf, piece...)
		quotes += bytes.Count(piece, []byte{'"'})
	}
}

// splitFields splits one record into fields, appending to dst. The
// message is non-empty when the record breaks the quoting rules, and n is
// then the 1-based field that breaks them.
func splitFields(s string, delim byte, dst []string) (_ []string, msg string, n int) {
	i := 0
	for n = 1; ; n++ {
		if i < len(s) && s[i] == '"' {
			var sb []byte
			j := i + 1
			var field string
			for {
				k := strings.IndexByte(s[j:], '"')
				if k < 0 {
					return dst, "quote not closed", n
				}
				k += j
				if k+1 < len(s) && s[k+1] == '"' {
					sb = append(sb, s[j:k+1]...)
					j = k + 2
					continue
				}
				if sb == nil {
					field = s[j:k]
				} else {
					field = string(append(sb, s[j:k]...))
				}
				i = k + 1
				break
			}
			dst = append(dst, field)
			if i == len(s) {
				return dst, "", 0
			}
			if s[i] != delim {
				return dst, "text after the closing quote", n
			}
			i++
			continue
		}
		k := strings.IndexByte(s[i:], delim)
		end := len(s)
		if k >= 0 {
			end = i + k
		}
		f := s[i:end]
		if strings.IndexByte(f, '"') >= 0 {
			return dst, "quote inside an unquoted field", n
		}
		dst = append(dst, f)
		if k < 0 {
			return dst, "", 0
		}
		i = end + 1
	}
}

// escaped shows text that is not UTF-8, clipped, with its invalid bytes
// as \xNN.
func escaped(s string) string {
	s = clip(s, 80)
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, "\\x%02x", s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
