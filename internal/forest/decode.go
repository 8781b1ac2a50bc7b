package forest

import (
	"encoding/json"
	"strconv"
)

// plainTree is Tree without its UnmarshalJSON: encoding/json's decoding.
type plainTree Tree

// UnmarshalJSON decodes a tree as encoding/json would. Forests are
// decoded in every decide and train activity and reflection made that
// slow (BenchmarkLoad), so the layout Save writes, {"nodes": [NODE, ...]}
// with the node keys of Save in any order, is read by hand; anything
// else (other keys, escapes, nulls, malformed numbers) goes to
// encoding/json, which then decodes it or returns its error.
func (t *Tree) UnmarshalJSON(data []byte) error {
	if nodes, ok := parseTree(data); ok {
		t.Nodes = nodes
		return nil
	}
	return json.Unmarshal(data, (*plainTree)(t))
}

// treeParser reads one tree's JSON; ok turns false at anything it does not
// handle.
type treeParser struct {
	b  []byte
	i  int
	ok bool
}

// parseTree reads {"nodes": [NODE, ...]}; ok is false when data is not in
// that form.
func parseTree(data []byte) (nodes []Node, ok bool) {
	p := &treeParser{b: data, ok: true}
	p.expect('{')
	if p.key() != "nodes" {
		return nil, false
	}
	p.expect('[')
	if p.peek() == ']' {
		p.i++
		nodes = []Node{}
	} else {
		for p.ok {
			nodes = append(nodes, p.node())
			if p.peek() == ',' {
				p.i++
				continue
			}
			p.expect(']')
			break
		}
	}
	p.expect('}')
	p.ws()
	if !p.ok || p.i != len(p.b) {
		return nil, false
	}
	return nodes, true
}

func (p *treeParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (p *treeParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *treeParser) expect(c byte) {
	if p.peek() != c {
		p.ok = false
		return
	}
	p.i++
}

// key reads "name" and the colon after it; names with escapes are not
// handled.
func (p *treeParser) key() string {
	p.expect('"')
	start := p.i
	for p.ok && p.i < len(p.b) && p.b[p.i] != '"' {
		if p.b[p.i] == '\\' {
			p.ok = false
		}
		p.i++
	}
	if !p.ok || p.i >= len(p.b) {
		p.ok = false
		return ""
	}
	k := string(p.b[start:p.i])
	p.i++
	p.expect(':')
	return k
}

// number returns the next JSON number's bytes.
func (p *treeParser) number() []byte {
	p.ws()
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		p.i++
	}
	if start == p.i {
		p.ok = false
	}
	return p.b[start:p.i]
}

// integer reads a number into an int as encoding/json does: base 10, no
// fraction or exponent, in range. Up to 9 digits it needs no string.
func (p *treeParser) integer() int {
	b := p.number()
	d, neg := b, false
	if len(d) > 0 && d[0] == '-' {
		d, neg = d[1:], true
	}
	if len(d) == 0 || len(d) > 9 {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || int64(int(n)) != n {
			p.ok = false
		}
		return int(n)
	}
	n := 0
	for _, c := range d {
		if c < '0' || c > '9' {
			p.ok = false // a fraction or exponent: encoding/json refuses it
			return 0
		}
		n = 10*n + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n
}

func (p *treeParser) float() float64 {
	v, err := strconv.ParseFloat(string(p.number()), 64)
	if err != nil {
		p.ok = false
	}
	return v
}

// node reads one NODE object.
func (p *treeParser) node() Node {
	var nd Node
	p.expect('{')
	if p.peek() == '}' {
		p.i++
		return nd
	}
	for p.ok {
		switch p.key() {
		case "f":
			nd.Feature = p.integer()
		case "t":
			nd.Threshold = p.float()
		case "l":
			nd.Left = p.integer()
		case "r":
			nd.Right = p.integer()
		case "ml":
			p.ws()
			switch {
			case hasPrefix(p.b[p.i:], "true"):
				nd.MissingLeft = true
				p.i += 4
			case hasPrefix(p.b[p.i:], "false"):
				nd.MissingLeft = false
				p.i += 5
			default:
				p.ok = false
			}
		case "v":
			nd.Value = p.float()
		case "g":
			nd.Gain = p.float()
		case "n":
			nd.N = p.integer()
		case "w":
			nd.W = p.float()
		default:
			p.ok = false
		}
		if p.peek() == ',' {
			p.i++
			continue
		}
		p.expect('}')
		break
	}
	return nd
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }
