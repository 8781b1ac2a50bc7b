package mapping

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The expression language of mapping files, small on purpose:
//
//	expr    = or [ "if" or "else" expr ]
//	or      = and { "or" and }
//	and     = not { "and" not }
//	not     = "not" not | cmp
//	cmp     = sum [ op sum | ["not"] "in" "(" expr { "," expr } ")" ]
//	op      = "==" | "!=" | "<" | "<=" | ">" | ">=" | "startswith" | "endswith" | "contains"
//	sum     = product { ("+" | "-") product }
//	product = unary { ("*" | "/") unary }
//	unary   = "-" unary | primary
//	primary = number | string | "true" | "false" | "null" | column
//	        | name "(" [ expr { "," expr } ] ")" | "(" expr ")"
//	column  = name | `any text`
//
// Strings are in double or single quotes with backslash escapes. A column
// yields its value with surrounding spaces trimmed, or null when the value
// is empty or absent. Functions are listed in funcs.

// maxExprLen and maxDepth bound what a mapping may ask of the parser.
const (
	maxExprLen = 4096
	maxDepth   = 64
)

// vkind is the dynamic type of an expression value.
type vkind uint8

const (
	vNull vkind = iota
	vStr
	vNum
	vBool
)

// val is an expression value. col is the source column the value came
// from unchanged (-1 for computed values), so conversion errors can name it.
type val struct {
	k   vkind
	s   string
	f   float64
	b   bool
	col int
}

var nullVal = val{col: -1}

func strVal(s string) val    { return val{k: vStr, s: s, col: -1} }
func numVal(f float64) val   { return val{k: vNum, f: f, col: -1} }
func boolVal(b bool) val     { return val{k: vBool, b: b, col: -1} }
func (v val) isNull() bool   { return v.k == vNull }
func (v val) String() string { return v.text() }

// text is the value as text: numbers in their shortest exact form.
func (v val) text() string {
	switch v.k {
	case vStr:
		return v.s
	case vNum:
		return strconv.FormatFloat(v.f, 'f', -1, 64)
	case vBool:
		return strconv.FormatBool(v.b)
	}
	return ""
}

// evalError is a value an expression cannot work with: a column that is not
// a number where one is needed.
type evalError struct {
	col    int // source column, or -1
	value  string
	reason string
}

func (e *evalError) Error() string { return fmt.Sprintf("%s %q", e.reason, e.value) }

// num converts v to a number.
func (v val) num() (float64, *evalError) {
	switch v.k {
	case vNum:
		return v.f, nil
	case vBool:
		if v.b {
			return 1, nil
		}
		return 0, nil
	case vStr:
		f, err := strconv.ParseFloat(v.s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, &evalError{col: v.col, value: v.s, reason: "not a number"}
		}
		return f, nil
	}
	return 0, nil
}

// truth is v as a condition: null is false.
func (v val) truth() (bool, *evalError) {
	switch v.k {
	case vBool:
		return v.b, nil
	case vNull:
		return false, nil
	case vNum:
		return v.f != 0, nil
	}
	b, ok := parseBool(v.s)
	if !ok {
		return false, &evalError{col: v.col, value: v.s, reason: "not a boolean"}
	}
	return b, nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "true", "t", "yes", "y":
		return true, true
	case "0", "false", "f", "no", "n":
		return false, true
	}
	return false, false
}

// env is what an expression reads: one record's fields by column index.
type env struct {
	fields []string
	null   []bool // absent or null, when the format has nulls; may be nil
}

func (e *env) column(i int) val {
	if i < 0 || i >= len(e.fields) || (e.null != nil && e.null[i]) {
		return nullVal
	}
	s := strings.TrimSpace(e.fields[i])
	if s == "" {
		return nullVal
	}
	return val{k: vStr, s: s, col: i}
}

// node is a parsed expression.
type node interface {
	eval(e *env) (val, *evalError)
}

type (
	litNode struct{ v val }
	colNode struct {
		name string
		idx  int // resolved by bind; -1 means absent (null)
	}
	unaryNode struct {
		op string // "-" or "not"
		x  node
	}
	binNode struct {
		op   string
		l, r node
	}
	inNode struct {
		x    node
		list []node
		neg  bool
	}
	condNode struct{ cond, then, els node }
	callNode struct {
		name string
		fn   *fn
		args []node
	}
)

func (n *litNode) eval(*env) (val, *evalError) { return n.v, nil }

func (n *colNode) eval(e *env) (val, *evalError) { return e.column(n.idx), nil }

func (n *unaryNode) eval(e *env) (val, *evalError) {
	x, err := n.x.eval(e)
	if err != nil {
		return nullVal, err
	}
	if n.op == "not" {
		b, err := x.truth()
		if err != nil {
			return nullVal, err
		}
		return boolVal(!b), nil
	}
	if x.isNull() {
		return nullVal, nil
	}
	f, err := x.num()
	if err != nil {
		return nullVal, err
	}
	return numVal(-f), nil
}

func (n *condNode) eval(e *env) (val, *evalError) {
	c, err := n.cond.eval(e)
	if err != nil {
		return nullVal, err
	}
	b, err := c.truth()
	if err != nil {
		return nullVal, err
	}
	if b {
		return n.then.eval(e)
	}
	return n.els.eval(e)
}

func (n *inNode) eval(e *env) (val, *evalError) {
	x, err := n.x.eval(e)
	if err != nil {
		return nullVal, err
	}
	found := false
	for _, m := range n.list {
		y, err := m.eval(e)
		if err != nil {
			return nullVal, err
		}
		eq, err := equal(x, y)
		if err != nil {
			return nullVal, err
		}
		if eq {
			found = true
			break
		}
	}
	return boolVal(found != n.neg), nil
}

// equal compares two values: numerically when either is a number, else as
// text; null equals only null.
func equal(x, y val) (bool, *evalError) {
	if x.isNull() || y.isNull() {
		return x.isNull() && y.isNull(), nil
	}
	if x.k == vNum || y.k == vNum {
		a, err := x.num()
		if err != nil {
			return false, err
		}
		b, err := y.num()
		if err != nil {
			return false, err
		}
		return a == b, nil
	}
	if x.k == vBool || y.k == vBool {
		a, err := x.truth()
		if err != nil {
			return false, err
		}
		b, err := y.truth()
		if err != nil {
			return false, err
		}
		return a == b, nil
	}
	return x.s == y.s, nil
}

func (n *binNode) eval(e *env) (val, *evalError) {
	l, err := n.l.eval(e)
	if err != nil {
		return nullVal, err
	}
	switch n.op { // short-circuit
	case "and", "or":
		lb, err := l.truth()
		if err != nil {
			return nullVal, err
		}
		if n.op == "and" && !lb || n.op == "or" && lb {
			return boolVal(lb), nil
		}
		r, err := n.r.eval(e)
		if err != nil {
			return nullVal, err
		}
		rb, err := r.truth()
		if err != nil {
			return nullVal, err
		}
		return boolVal(rb), nil
	}
	r, err := n.r.eval(e)
	if err != nil {
		return nullVal, err
	}
	switch n.op {
	case "==", "!=":
		eq, err := equal(l, r)
		if err != nil {
			return nullVal, err
		}
		return boolVal(eq == (n.op == "==")), nil
	case "startswith", "endswith", "contains":
		if l.isNull() || r.isNull() {
			return boolVal(false), nil
		}
		a, b := l.text(), r.text()
		switch n.op {
		case "startswith":
			return boolVal(strings.HasPrefix(a, b)), nil
		case "endswith":
			return boolVal(strings.HasSuffix(a, b)), nil
		}
		return boolVal(strings.Contains(a, b)), nil
	case "<", "<=", ">", ">=":
		if l.isNull() || r.isNull() {
			return boolVal(false), nil
		}
		var c int
		if l.k == vStr && r.k == vStr {
			c = strings.Compare(l.s, r.s)
		} else {
			a, err := l.num()
			if err != nil {
				return nullVal, err
			}
			b, err := r.num()
			if err != nil {
				return nullVal, err
			}
			switch {
			case a < b:
				c = -1
			case a > b:
				c = 1
			}
		}
		switch n.op {
		case "<":
			return boolVal(c < 0), nil
		case "<=":
			return boolVal(c <= 0), nil
		case ">":
			return boolVal(c > 0), nil
		}
		return boolVal(c >= 0), nil
	}
	// arithmetic
	if l.isNull() || r.isNull() {
		return nullVal, nil
	}
	a, err := l.num()
	if err != nil {
		return nullVal, err
	}
	b, err := r.num()
	if err != nil {
		return nullVal, err
	}
	var f float64
	switch n.op {
	case "+":
		f = a + b
	case "-":
		f = a - b
	case "*":
		f = a * b
	case "/":
		if b == 0 {
			return nullVal, nil // division by zero is missing, not an error
		}
		f = a / b
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nullVal, nil
	}
	return numVal(f), nil
}

func (n *callNode) eval(e *env) (val, *evalError) {
	args := make([]val, len(n.args))
	for i, a := range n.args {
		v, err := a.eval(e)
		if err != nil {
			return nullVal, err
		}
		args[i] = v
	}
	return n.fn.call(args)
}

// fn is a built-in function: fixed arity (or at least min with variadic),
// null in means null out unless nullOK.
type fn struct {
	min, max int // max < 0: variadic
	nullOK   bool
	doc      string
	impl     func(args []val) (val, *evalError)
}

func (f *fn) call(args []val) (val, *evalError) {
	if !f.nullOK {
		for _, a := range args {
			if a.isNull() {
				return nullVal, nil
			}
		}
	}
	return f.impl(args)
}

// funcs are the functions expressions may call (documented in docs/DATA.md).
var funcs = map[string]*fn{
	"abs": {min: 1, max: 1, doc: "absolute value", impl: func(a []val) (val, *evalError) {
		f, err := a[0].num()
		return numVal(math.Abs(f)), err
	}},
	"int": {min: 1, max: 1, doc: "the number, which must be whole (\"3.0\" is 3)", impl: func(a []val) (val, *evalError) {
		f, err := a[0].num()
		if err != nil {
			return nullVal, err
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nullVal, &evalError{col: a[0].col, value: a[0].text(), reason: "not a whole number"}
		}
		return numVal(f), nil
	}},
	"number": {min: 1, max: 1, doc: "the value as a number", impl: func(a []val) (val, *evalError) {
		f, err := a[0].num()
		return numVal(f), err
	}},
	"round": {min: 1, max: 2, doc: "round(x) or round(x, digits)", impl: func(a []val) (val, *evalError) {
		f, err := a[0].num()
		if err != nil {
			return nullVal, err
		}
		d := 0.0
		if len(a) == 2 {
			if d, err = a[1].num(); err != nil {
				return nullVal, err
			}
		}
		p := math.Pow(10, math.Max(-15, math.Min(15, math.Trunc(d))))
		return numVal(math.Round(f*p) / p), nil
	}},
	"min": {min: 1, max: -1, doc: "smallest number", impl: func(a []val) (val, *evalError) { return extreme(a, -1) }},
	"max": {min: 1, max: -1, doc: "largest number", impl: func(a []val) (val, *evalError) { return extreme(a, 1) }},
	"string": {min: 1, max: 1, doc: "the value as text", impl: func(a []val) (val, *evalError) {
		return strVal(a[0].text()), nil
	}},
	"bool": {min: 1, max: 1, doc: "1/0, true/false, yes/no, t/f, y/n as a boolean", impl: func(a []val) (val, *evalError) {
		b, err := a[0].truth()
		return boolVal(b), err
	}},
	"lower": {min: 1, max: 1, doc: "lower case", impl: func(a []val) (val, *evalError) { return strVal(strings.ToLower(a[0].text())), nil }},
	"upper": {min: 1, max: 1, doc: "upper case", impl: func(a []val) (val, *evalError) { return strVal(strings.ToUpper(a[0].text())), nil }},
	"trim":  {min: 1, max: 1, doc: "without surrounding spaces", impl: func(a []val) (val, *evalError) { return nonEmpty(strings.TrimSpace(a[0].text())), nil }},
	"trimprefix": {min: 2, max: 2, doc: "trimprefix(s, prefix)", impl: func(a []val) (val, *evalError) {
		return nonEmpty(strings.TrimPrefix(a[0].text(), a[1].text())), nil
	}},
	"trimsuffix": {min: 2, max: 2, doc: "trimsuffix(s, suffix)", impl: func(a []val) (val, *evalError) {
		return nonEmpty(strings.TrimSuffix(a[0].text(), a[1].text())), nil
	}},
	// nullOK, because "" (an empty value, so null) as new deletes old.
	"replace": {min: 3, max: 3, nullOK: true, doc: "replace(s, old, new): every old by new; null s gives null", impl: func(a []val) (val, *evalError) {
		if a[0].isNull() || a[1].isNull() {
			return a[0], nil
		}
		return nonEmpty(strings.ReplaceAll(a[0].text(), a[1].text(), a[2].text())), nil
	}},
	"substr": {min: 2, max: 3, doc: "substr(s, start[, length]) in characters, from 0", impl: func(a []val) (val, *evalError) {
		r := []rune(a[0].text())
		st, err := a[1].num()
		if err != nil {
			return nullVal, err
		}
		n := float64(len(r))
		if len(a) == 3 {
			if n, err = a[2].num(); err != nil {
				return nullVal, err
			}
		}
		lo := int(math.Max(0, math.Min(float64(len(r)), st)))
		hi := int(math.Max(float64(lo), math.Min(float64(len(r)), float64(lo)+math.Max(0, n))))
		return nonEmpty(string(r[lo:hi])), nil
	}},
	"concat": {min: 1, max: -1, nullOK: true, doc: "the texts joined; nulls are skipped", impl: func(a []val) (val, *evalError) {
		var sb strings.Builder
		for _, v := range a {
			sb.WriteString(v.text())
		}
		return nonEmpty(sb.String()), nil
	}},
	"coalesce": {min: 1, max: -1, nullOK: true, doc: "the first value that is not null", impl: func(a []val) (val, *evalError) {
		for _, v := range a {
			if !v.isNull() {
				return v, nil
			}
		}
		return nullVal, nil
	}},
	"empty": {min: 1, max: 1, nullOK: true, doc: "true when the value is null or empty", impl: func(a []val) (val, *evalError) {
		return boolVal(a[0].isNull() || a[0].text() == ""), nil
	}},
}

func nonEmpty(s string) val {
	if s == "" {
		return nullVal
	}
	return strVal(s)
}

func extreme(a []val, sign float64) (val, *evalError) {
	best := 0.0
	for i, v := range a {
		f, err := v.num()
		if err != nil {
			return nullVal, err
		}
		if i == 0 || sign*(f-best) > 0 {
			best = f
		}
	}
	return numVal(best), nil
}

// --- lexer ---------------------------------------------------------------

type tokKind uint8

const (
	tEOF tokKind = iota
	tName
	tColumn // `quoted column`
	tString
	tNumber
	tOp
)

type token struct {
	k   tokKind
	s   string
	f   float64
	pos int
}

// SyntaxError is an expression that does not parse.
type SyntaxError struct {
	Expr string
	Pos  int // byte offset in Expr
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("expression %q: at %d: %s", e.Expr, e.Pos+1, e.Msg)
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'':
			s, n, err := unquote(src[i:], c)
			if err != nil {
				return nil, &SyntaxError{Expr: src, Pos: i, Msg: err.Error()}
			}
			toks = append(toks, token{k: tString, s: s, pos: i})
			i += n
		case c == '`':
			j := strings.IndexByte(src[i+1:], '`')
			if j < 0 {
				return nil, &SyntaxError{Expr: src, Pos: i, Msg: "unterminated `column name`"}
			}
			toks = append(toks, token{k: tColumn, s: src[i+1 : i+1+j], pos: i})
			i += j + 2
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
				(src[j] == '+' || src[j] == '-') && j > i && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			f, err := strconv.ParseFloat(src[i:j], 64)
			if err != nil || math.IsInf(f, 0) {
				return nil, &SyntaxError{Expr: src, Pos: i, Msg: fmt.Sprintf("bad number %q", src[i:j])}
			}
			toks = append(toks, token{k: tNumber, f: f, s: src[i:j], pos: i})
			i = j
		case isNameStart(src[i:]):
			j := i
			for j < len(src) {
				r, n := utf8.DecodeRuneInString(src[j:])
				if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
					break
				}
				j += n
			}
			toks = append(toks, token{k: tName, s: src[i:j], pos: i})
			i = j
		default:
			op := ""
			for _, o := range []string{"==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", ","} {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, &SyntaxError{Expr: src, Pos: i, Msg: fmt.Sprintf("unexpected %q", r)}
			}
			toks = append(toks, token{k: tOp, s: op, pos: i})
			i += len(op)
		}
	}
	return append(toks, token{k: tEOF, pos: len(src)}), nil
}

func isNameStart(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r) || r == '_'
}

// unquote reads a quoted string at the start of s and returns it and the
// bytes it took.
func unquote(s string, q byte) (string, int, error) {
	var sb strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return sb.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated string")
			}
			i++
			switch s[i] {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case '\\', '"', '\'':
				sb.WriteByte(s[i])
			default:
				return "", 0, fmt.Errorf("unknown escape \\%c", s[i])
			}
		default:
			sb.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// --- parser ----------------------------------------------------------------

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
	cols  []*colNode // every column reference, in order of appearance
}

// parse parses an expression. Column references are left unresolved.
func parse(src string) (node, []*colNode, error) {
	if len(src) > maxExprLen {
		return nil, nil, &SyntaxError{Expr: src[:64] + "...", Msg: fmt.Sprintf("longer than %d bytes", maxExprLen)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{src: src, toks: toks}
	n, err := p.expr()
	if err != nil {
		return nil, nil, err
	}
	if t := p.peek(); t.k != tEOF {
		return nil, nil, p.errf(t, "unexpected %q", t.s)
	}
	return n, p.cols, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.k != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errf(t token, format string, args ...any) error {
	return &SyntaxError{Expr: p.src, Pos: t.pos, Msg: fmt.Sprintf(format, args...)}
}

// isWord reports whether the next token is the keyword w.
func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.k == tName && t.s == w
}

func (p *parser) isOp(o string) bool {
	t := p.peek()
	return t.k == tOp && t.s == o
}

func (p *parser) expect(o string) error {
	if !p.isOp(o) {
		t := p.peek()
		if t.k == tEOF {
			return p.errf(t, "expected %q at the end", o)
		}
		return p.errf(t, "expected %q, found %q", o, t.s)
	}
	p.next()
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf(p.peek(), "nested deeper than %d", maxDepth)
	}
	return nil
}

func (p *parser) expr() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if !p.isWord("if") {
		return n, nil
	}
	p.next()
	cond, err := p.or()
	if err != nil {
		return nil, err
	}
	if !p.isWord("else") {
		return nil, p.errf(p.peek(), "expected else")
	}
	p.next()
	els, err := p.expr()
	if err != nil {
		return nil, err
	}
	return &condNode{cond: cond, then: n, els: els}, nil
}

func (p *parser) or() (node, error) {
	n, err := p.and()
	for err == nil && p.isWord("or") {
		p.next()
		var r node
		if r, err = p.and(); err == nil {
			n = &binNode{op: "or", l: n, r: r}
		}
	}
	return n, err
}

func (p *parser) and() (node, error) {
	n, err := p.not()
	for err == nil && p.isWord("and") {
		p.next()
		var r node
		if r, err = p.not(); err == nil {
			n = &binNode{op: "and", l: n, r: r}
		}
	}
	return n, err
}

func (p *parser) not() (node, error) {
	if p.isWord("not") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &unaryNode{op: "not", x: x}, nil
	}
	return p.cmp()
}

var cmpWords = map[string]bool{"startswith": true, "endswith": true, "contains": true}

func (p *parser) cmp() (node, error) {
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case t.k == tOp && (t.s == "==" || t.s == "!=" || t.s == "<" || t.s == "<=" || t.s == ">" || t.s == ">="),
		t.k == tName && cmpWords[t.s]:
		p.next()
		r, err := p.sum()
		if err != nil {
			return nil, err
		}
		return &binNode{op: t.s, l: l, r: r}, nil
	case p.isWord("in"), p.isWord("not") && p.i+1 < len(p.toks) && p.toks[p.i+1].k == tName && p.toks[p.i+1].s == "in":
		neg := p.isWord("not")
		if neg {
			p.next()
		}
		p.next()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		var list []node
		for {
			m, err := p.expr()
			if err != nil {
				return nil, err
			}
			list = append(list, m)
			if p.isOp(",") {
				p.next()
				continue
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			break
		}
		return &inNode{x: l, list: list, neg: neg}, nil
	}
	return l, nil
}

func (p *parser) sum() (node, error) {
	n, err := p.product()
	for err == nil && (p.isOp("+") || p.isOp("-")) {
		op := p.next().s
		var r node
		if r, err = p.product(); err == nil {
			n = &binNode{op: op, l: n, r: r}
		}
	}
	return n, err
}

func (p *parser) product() (node, error) {
	n, err := p.unary()
	for err == nil && (p.isOp("*") || p.isOp("/")) {
		op := p.next().s
		var r node
		if r, err = p.unary(); err == nil {
			n = &binNode{op: op, l: n, r: r}
		}
	}
	return n, err
}

func (p *parser) unary() (node, error) {
	if p.isOp("-") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{op: "-", x: x}, nil
	}
	return p.primary()
}

var keywords = map[string]bool{"if": true, "else": true, "and": true, "or": true, "not": true, "in": true,
	"startswith": true, "endswith": true, "contains": true}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.k {
	case tNumber:
		return &litNode{v: numVal(t.f)}, nil
	case tString:
		if t.s == "" {
			return &litNode{v: nullVal}, nil
		}
		return &litNode{v: strVal(t.s)}, nil
	case tColumn:
		c := &colNode{name: t.s, idx: -1}
		p.cols = append(p.cols, c)
		return c, nil
	case tName:
		switch t.s {
		case "true", "false":
			return &litNode{v: boolVal(t.s == "true")}, nil
		case "null":
			return &litNode{v: nullVal}, nil
		}
		if keywords[t.s] {
			return nil, p.errf(t, "unexpected %q", t.s)
		}
		if !p.isOp("(") {
			c := &colNode{name: t.s, idx: -1}
			p.cols = append(p.cols, c)
			return c, nil
		}
		f, ok := funcs[t.s]
		if !ok {
			return nil, p.errf(t, "unknown function %s", t.s)
		}
		p.next()
		var args []node
		if !p.isOp(")") {
			for {
				a, err := p.expr()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if p.isOp(",") {
					p.next()
					continue
				}
				break
			}
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		if len(args) < f.min || f.max >= 0 && len(args) > f.max {
			return nil, p.errf(t, "%s takes %s, got %d", t.s, arity(f), len(args))
		}
		return &callNode{name: t.s, fn: f, args: args}, nil
	case tOp:
		if t.s == "(" {
			if err := p.enter(); err != nil {
				return nil, err
			}
			defer func() { p.depth-- }()
			n, err := p.expr()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return n, nil
		}
		return nil, p.errf(t, "unexpected %q", t.s)
	}
	return nil, p.errf(t, "unexpected end of expression")
}

func arity(f *fn) string {
	switch {
	case f.max < 0:
		return fmt.Sprintf("at least %d arguments", f.min)
	case f.min == f.max && f.min == 1:
		return "1 argument"
	case f.min == f.max:
		return fmt.Sprintf("%d arguments", f.min)
	}
	return fmt.Sprintf("%d to %d arguments", f.min, f.max)
}
