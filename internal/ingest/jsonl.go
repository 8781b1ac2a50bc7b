package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// JSONLOptions configure a JSONLReader.
type JSONLOptions struct {
	// Columns are the keys to read, in the order of Record.Fields.
	Columns        []string
	Start          Position // where the reader's input starts (a line start)
	MaxRecordBytes int      // DefaultMaxRecordBytes when zero
	Source         string
}

// JSONLReader reads JSON Lines: one JSON object per line. Of each object it
// returns the top-level keys asked for: strings as their text, numbers as
// written, true and false, nested objects and arrays as JSON text; null and
// absent keys are null. Blank lines are skipped; a line that is not a JSON
// object is a record with Err "bad json". Fingerprints are of the line.
type JSONLReader struct {
	br     *bufio.Reader
	cols   map[string]int
	names  []string
	pos    Position
	max    int
	source string
	buf    []byte
	rec    Record
	fields []string
	null   []bool
	seen   []int64
	fp     *fingerprinter
}

// Seen returns, per column, how many records so far had the key (null
// or not).
func (j *JSONLReader) Seen() []int64 { return j.seen }

// NewJSONLReader returns a reader of r.
func NewJSONLReader(r io.Reader, opt JSONLOptions) *JSONLReader {
	j := &JSONLReader{br: bufio.NewReaderSize(r, 1<<16), cols: map[string]int{}, names: opt.Columns, pos: opt.Start,
		max: opt.MaxRecordBytes, source: opt.Source, fp: newFingerprinter(),
		fields: make([]string, len(opt.Columns)), null: make([]bool, len(opt.Columns)), seen: make([]int64, len(opt.Columns))}
	for i, c := range opt.Columns {
		j.cols[c] = i
	}
	if j.max == 0 {
		j.max = DefaultMaxRecordBytes
	}
	if j.pos.Line == 0 {
		j.pos.Line = 1
	}
	if j.pos.Offset == 0 {
		if b, err := j.br.Peek(len(bom)); err == nil && string(b) == bom {
			j.br.Discard(len(bom))
			j.pos.Offset = int64(len(bom))
		}
	}
	return j
}

// Columns are the keys asked for.
func (j *JSONLReader) Columns() []string { return j.names }

// Pos is the position of the next line.
func (j *JSONLReader) Pos() (Position, bool) { return j.pos, true }

// Next returns the next record.
func (j *JSONLReader) Next() (*Record, error) {
	for {
		j.buf = j.buf[:0]
		for {
			piece, err := j.br.ReadSlice('\n')
			j.buf = append(j.buf, piece...)
			if len(j.buf) > j.max {
				return nil, &BadInputError{Source: j.source, Line: int(j.pos.Line), Msg: fmt.Sprintf("line longer than %d bytes", j.max)}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				if len(j.buf) == 0 {
					return nil, io.EOF
				}
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: %w", j.source, j.pos.Line, err)
			}
			break
		}
		line := j.pos.Line
		j.pos.Offset += int64(len(j.buf))
		j.pos.Line++
		body := bytes.TrimSpace(j.buf)
		if len(body) == 0 {
			continue
		}
		r := &j.rec
		*r = Record{Line: line, FP: j.fp.bytes(body)}
		if !utf8.Valid(body) { // encoding/json would replace it silently
			r.Err, r.ErrValue = InvalidUTF8, escaped(string(body))
			return r, nil
		}
		if msg := j.object(body); msg != "" {
			r.Err, r.ErrValue = "bad json", msg
			return r, nil
		}
		r.Fields, r.Null = j.fields, j.null
		return r, nil
	}
}

// object reads the wanted keys of a JSON object into fields and null.
func (j *JSONLReader) object(b []byte) string {
	for i := range j.fields {
		j.fields[i], j.null[i] = "", true
	}
	if !json.Valid(b) {
		return "not valid JSON: " + clip(string(b), 80)
	}
	s := scanner{b: b}
	s.space()
	if !s.eat('{') {
		return "not a JSON object"
	}
	s.space()
	if s.eat('}') {
		return ""
	}
	for {
		s.space()
		key := s.value() // a string: valid JSON guarantees it
		k, ok := unquoteJSON(key)
		if !ok {
			return "bad key"
		}
		s.space()
		s.eat(':')
		s.space()
		v := s.value()
		if i, want := j.cols[k]; want {
			j.seen[i]++
			switch {
			case string(v) == "null":
				j.fields[i], j.null[i] = "", true
			case v[0] == '"':
				str, ok := unquoteJSON(v)
				if !ok {
					return "bad string"
				}
				j.fields[i], j.null[i] = str, false
			default:
				j.fields[i], j.null[i] = string(v), false
			}
		}
		s.space()
		if s.eat('}') {
			return ""
		}
		s.eat(',')
	}
}

// scanner walks a valid JSON text.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// value returns the next value's bytes (valid JSON assumed).
func (s *scanner) value() []byte {
	start := s.i
	if s.i >= len(s.b) {
		return s.b[start:]
	}
	switch s.b[s.i] {
	case '"':
		s.i++
		for s.i < len(s.b) {
			c := s.b[s.i]
			s.i++
			if c == '\\' {
				s.i++
			} else if c == '"' {
				break
			}
		}
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			c := s.b[s.i]
			switch c {
			case '"':
				s.value()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default:
		for s.i < len(s.b) {
			c := s.b[s.i]
			if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				break
			}
			s.i++
		}
	}
	return s.b[start:s.i]
}

// unquoteJSON decodes a JSON string token; the fast path has no escapes.
func unquoteJSON(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return "", false
	}
	return s, true
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
