package mapping

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promoflow/promoflow/internal/canon"
)

// evalExpr parses src, binds columns a, b, c to fields and evaluates.
func evalExpr(src string, fields []string) (val, *evalError, error) {
	n, refs, err := parse(src)
	if err != nil {
		return nullVal, nil, err
	}
	for _, r := range refs {
		r.idx = -1
		for i, name := range []string{"a", "b", "c"} {
			if r.name == name {
				r.idx = i
			}
		}
	}
	e := env{fields: fields}
	v, ee := n.eval(&e)
	return v, ee, nil
}

func TestExpressions(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		a, b, c string
		want    string // text of the value; "<null>" for null, "!reason" for an eval error, "?" for a syntax error
	}{
		{`"return" if a startswith "C" else "purchase"`, "C536379", "", "", "return"},
		{`"return" if a startswith "C" else "purchase"`, "536379", "", "", "purchase"},
		{`trimsuffix(a, ".0")`, "17850.0", "", "", "17850"},
		{`trimsuffix(a, ".0")`, "", "", "", "<null>"},
		{`abs(int(a))`, "-12", "", "", "12"},
		{`int(a)`, "1.5", "", "", "!not a whole number"},
		{`int(a)`, "3.0", "", "", "3"},
		{`number(a) < 0 and not (b startswith "C")`, "-1", "536379", "", "true"},
		{`number(a) < 0 and not (b startswith "C")`, "-1", "C1", "", "false"},
		{`number(a)`, "1,5", "", "", "!not a number"},
		{`upper(a) in ("POST", "DOT")`, " post ", "", "", "true"},
		{`a not in ("x")`, "y", "", "", "true"},
		{`a + b`, "2", "3", "", "5"},
		{`a / b`, "1", "0", "", "<null>"}, // division by zero is missing
		{`a * b`, "1e308", "10", "", "<null>"},
		{`coalesce(a, b, "none")`, "", "", "", "none"},
		{`concat(a, "-", b)`, "x", "", "", "x-"},
		{`empty(a)`, "  ", "", "", "true"},
		{`substr(a, 1, 2)`, "héllo", "", "", "él"},
		{`substr(a, 10)`, "abc", "", "", "<null>"},
		{`round(a, 1)`, "2.46", "", "", "2.5"},
		{`min(a, b, 3)`, "5", "4", "", "3"},
		{`bool(a)`, "yes", "", "", "true"},
		{`bool(a)`, "maybe", "", "", "!not a boolean"},
		{`replace(a, "-", "")`, "a-b-c", "", "", "abc"},
		{"`Customer ID`", "", "", "", "<null>"}, // unknown column: null
		{`lower(a) == "x" or b`, "X", "", "", "true"},
		{`-a`, "2", "", "", "-2"},
		{`a if b else c`, "1", "", "3", "3"}, // null condition is false
		{`a +`, "", "", "", "?"},
		{`nosuch(a)`, "", "", "", "?"},
		{`lower(a, b)`, "", "", "", "?"},
		{`"unterminated`, "", "", "", "?"},
		{strings.Repeat("(", 100) + "a" + strings.Repeat(")", 100), "1", "", "", "?"}, // deeper than maxDepth
	} {
		v, ee, err := evalExpr(tc.expr, []string{tc.a, tc.b, tc.c})
		var got string
		switch {
		case err != nil:
			got = "?"
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("%s: error %T, want a *SyntaxError", tc.expr, err)
			}
		case ee != nil:
			got = "!" + ee.reason
		case v.isNull():
			got = "<null>"
		default:
			got = v.text()
		}
		if got != tc.want {
			t.Errorf("%s with a=%q b=%q c=%q = %q, want %q", tc.expr, tc.a, tc.b, tc.c, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no sources", "dataset: x\n", "no sources"},
		{"unknown table", "sources:\n  - table: orders\n    columns: {user_id: a}\n", `mapping line 2: table "orders"`},
		{"unknown column", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: b\n      type: c\n      colour: d\n", `mapping line 7: table events has no column "colour"`},
		{"required not mapped", "sources:\n  - table: events\n    columns: {user_id: a, ts: b}\n", "required column type is not mapped"},
		{"bad expression", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: b\n      type: 'c +'\n", `mapping line 6: column "type"`},
		{"bad policy", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: {expr: b, missing: guess}\n      type: c\n", `missing "guess"`},
		{"fill without value", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: {expr: b, missing: fill}\n      type: c\n", "fill needs a fill value"},
		{"keep a required column", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: {expr: b, missing: keep}\n      type: c\n", "is required"},
		{"bad fill", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: b\n      type: c\n      price: {expr: d, fill: cheap}\n", `fill "cheap" is not a float`},
		{"bad timezone", "sources:\n  - table: events\n    timezone: Mars/Olympus\n    columns: {user_id: a, ts: b, type: c}\n", `timezone "Mars/Olympus"`},
		{"layout on a string", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: b\n      type: {expr: c, layout: '2006'}\n", "layout is for timestamps"},
		{"bad delimiter", "sources:\n  - table: events\n    delimiter: '\"'\n    columns: {user_id: a, ts: b, type: c}\n", "delimiter"},
		{"skip without reason", "sources:\n  - table: events\n    skip: [{when: a}]\n    columns: {user_id: a, ts: b, type: c}\n", "has no reason"},
		{"sensitive not an attribute", "sources:\n  - table: profiles\n    columns: {user_id: id}\n    attributes: [age]\n    sensitive: [race]\n", `sensitive "race" is not an attribute`},
		{"carry user forward", "sources:\n  - table: events\n    columns:\n      user_id: {expr: a, missing: carry_forward}\n      ts: b\n      type: c\n", "cannot be carried forward"},
		{"unknown key", "sources:\n  - table: events\n    colums: {user_id: a}\n", `mapping line 3, column 5: unknown key "colums" in source 1 (did you mean "columns"?); known keys: attributes, columns, dedupe,`},
		{"misspelt table key", "sources:\n  - files: ['*.csv']\n    tabel: events\n", `mapping line 3, column 5: unknown key "tabel" in source 1 (did you mean "table"?)`},
		{"unknown top key", "source:\n  - table: events\n", `mapping line 1, column 1: unknown key "source" at the top of the file (did you mean "sources"?); known keys: dataset, description, sources`},
		{"unknown column key", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: {expr: b, missng: keep}\n      type: c\n", `mapping line 5, column 21: unknown key "missng" in source 1, column "ts" (did you mean "missing"?)`},
		{"unknown skip key", "sources:\n  - table: events\n    skip: [{when: a, reson: x}]\n    columns: {user_id: a, ts: b, type: c}\n", `unknown key "reson" in source 1, skip rule (did you mean "reason"?)`},
		{"list for text", "sources:\n  - table: events\n    delimiter: [1]\n    columns: {user_id: a, ts: b, type: c}\n", "mapping line 3, column 16: delimiter: want text, not a list"},
		{"text for a bool", "sources:\n  - table: events\n    dedupe: maybe\n    columns: {user_id: a, ts: b, type: c}\n", "mapping line 3, column 13: dedupe: want true or false, not text (maybe)"},
		{"column value type", "sources:\n  - table: events\n    columns:\n      user_id: a\n      ts: {expr: b, optional: often}\n      type: c\n", `column "ts": optional: want true or false, not text (often)`},
		{"yaml syntax", "sources:\n  - table: events\n    columns: {user_id: a, ts: b, type: c\n", "mapping line 2: not valid YAML: did not find expected ',' or '}'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want a *mapping.Error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestShippedMappings parses deploy/datasets/*.yaml and binds them to the
// real files' headers.
func TestShippedMappings(t *testing.T) {
	for _, tc := range []struct {
		file    string
		headers map[string][]string // file name -> header
		sources int
	}{
		{"online-retail.yaml", map[string][]string{"online_retail.csv.gz": {"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"}}, 1},
		{"artea.yaml", map[string][]string{
			"artea-a_b-experiment.csv": {"id", "trans_after", "revenue_after", "test_coupon", "channel_acq", "num_past_purch", "spent_last_purchase", "weeks_since_visit", "browsing_minutes", "shopping_cart"},
			"artea-demographics.csv":   {"id", "race", "gender"},
			"artea-next-campaign.csv":  {"id", "channel_acq", "num_past_purch", "spent_last_purchase", "weeks_since_visit", "browsing_minutes", "shopping_cart"},
		}, 4},
	} {
		data, err := os.ReadFile("../../deploy/datasets/" + tc.file)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if len(m.Sources) != tc.sources {
			t.Errorf("%s: %d sources, want %d", tc.file, len(m.Sources), tc.sources)
		}
		for name, header := range tc.headers {
			specs := m.Match(name)
			if len(specs) == 0 {
				t.Errorf("%s: no source for %s", tc.file, name)
			}
			for _, s := range specs {
				if _, err := Compile(s, header); err != nil {
					t.Errorf("%s: %s: %v", tc.file, name, err)
				}
			}
		}
	}
}

// TestOnlineRetailRows maps real-looking Online Retail lines.
func TestOnlineRetailRows(t *testing.T) {
	data, err := os.ReadFile("../../deploy/datasets/online-retail.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(m.Sources[0], []string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"})
	if err != nil {
		t.Fatal(err)
	}
	ty, q, user, ts := canon.EventsTable.Index("type"), canon.EventsTable.Index("quantity"), canon.EventsTable.Index("user_id"), canon.EventsTable.Index("ts")
	for _, tc := range []struct {
		line []string
		want string // type/quantity/user/ts (UTC), or the reject reason
	}{
		{[]string{"536365", "85123A", "WHITE HANGING HEART", "6", "2010-12-01 08:26:00", "2.55", "17850.0", "United Kingdom"}, "purchase/6/17850/2010-12-01T08:26:00Z"},
		{[]string{"C536379", "D", "Discount", "-1", "2010-12-01 09:41:00", "27.5", "14527.0", "United Kingdom"}, "not a product"},
		{[]string{"C536383", "35004C", "SET OF 3 COLOURED", "-1", "2011-06-01 09:49:00", "4.65", "15311.0", "United Kingdom"}, "return/1/15311/2011-06-01T08:49:00Z"}, // BST
		{[]string{"536414", "22139", "", "-56", "2010-12-01 11:52:00", "0", "", "United Kingdom"}, "stock adjustment"},
		{[]string{"536544", "21773", "DECORATIVE ROSE", "1", "2010-12-01 14:32:00", "2.51", "", "United Kingdom"}, "purchase/1//2010-12-01T14:32:00Z"},
		{[]string{"536544", "21773", "DECORATIVE ROSE", "1", "12/1/2010 14:32", "2.51", "", "United Kingdom"}, "bad ts"},
	} {
		var row Row
		p.Eval(tc.line, nil, &row)
		got := row.Fail.Reason
		if got == "" {
			r := row.Rows[0]
			got = r[ty].Str + "/" + strconv.FormatInt(r[q].Int, 10) + "/" + r[user].Str + "/" + r[ts].Time().Format("2006-01-02T15:04:05Z")
			if r[user].Null != row.NoUser {
				t.Errorf("%v: NoUser %v, user null %v", tc.line, row.NoUser, r[user].Null)
			}
		}
		if got != tc.want {
			t.Errorf("%v = %q, want %q", tc.line, got, tc.want)
		}
	}
}

// TestNotAfter: with a limit, an event later than it is rejected, blamed
// on the file's column, with its time; at the limit, or without one, it is
// a row.
func TestNotAfter(t *testing.T) {
	data, err := os.ReadFile("../../deploy/datasets/online-retail.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(m.Sources[0], []string{"InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"})
	if err != nil {
		t.Fatal(err)
	}
	line := func(ts string) []string {
		return []string{"536365", "85123A", "WHITE HANGING HEART", "6", ts, "2.55", "17850.0", "United Kingdom"}
	}
	limit := time.Date(2011, 12, 10, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		limit time.Time
		ts    string
		want  Failure
	}{
		{"2099", limit, "2099-12-01 08:26:00", Failure{Column: "InvoiceDate", Reason: ReasonAfterStart, Value: "2099-12-01T08:26:00Z"}},
		{"a minute after", limit, "2011-12-10 00:01:00", Failure{Column: "InvoiceDate", Reason: ReasonAfterStart, Value: "2011-12-10T00:01:00Z"}},
		{"at the limit", limit, "2011-12-10 00:00:00", Failure{}},
		{"before", limit, "2011-12-09 12:00:00", Failure{}},
		{"no limit", time.Time{}, "2099-12-01 08:26:00", Failure{}},
	} {
		p.SetNotAfter(tc.limit)
		var row Row
		p.Eval(line(tc.ts), nil, &row)
		if row.Fail != tc.want {
			t.Errorf("%s: failure %+v, want %+v", tc.name, row.Fail, tc.want)
		}
		if accepted := tc.want.Reason == ""; accepted != (len(row.Rows) == 1) {
			t.Errorf("%s: %d rows", tc.name, len(row.Rows))
		}
	}
}

// FuzzExpression parses any expression and evaluates it on any fields,
// bare and as a mapped column: no panic, and every record is exactly one
// of a row or a reject with a reason.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		`"return" if a startswith "C" else "purchase"`, `trimsuffix(a, ".0")`, `abs(int(a))`,
		`number(a) < 0 and not (b startswith "C")`, `upper(a) in ("POST", "DOT", "C2")`, `substr(a, b, c)`,
		`round(a, b)`, `a / b * c - 1`, `coalesce(a, b) + concat(c)`, "`x y` == 'q'", `min(a, -b, 1e308 * 10)`,
		`not not a or b and c`, `lower(a) != upper(b)`, `bool(a) if empty(b) else int(c)`,
	} {
		f.Add(s, "C1.0", "2", "-3")
	}
	f.Add(`substr(a, b)`, "héllo", "NaN", "")
	f.Add(`a`, "\xff", "", "")
	table := canon.EventsTable
	text := table.Index("text")
	quantity := table.Index("quantity")
	f.Fuzz(func(t *testing.T, expr, a, b, c string) {
		v, _, err := evalExpr(expr, []string{a, b, c})
		if err != nil {
			return
		}
		_ = v.text()
		// As columns of a source: text (a string) and quantity (an int).
		for _, target := range []int{text, quantity} {
			s := &Source{Name: "f", Table: table, Columns: make([]*Column, len(table.Columns))}
			s.Columns[table.Index("user_id")] = &Column{Target: "user_id", Expr: "a", Missing: Keep, Kind: canon.String, Layouts: DefaultLayouts}
			s.Columns[table.Index("ts")] = &Column{Target: "ts", Const: &canon.Value{Int: 1}, Missing: Reject, Kind: canon.Timestamp}
			s.Columns[table.Index("type")] = &Column{Target: "type", Const: &canon.Value{Str: "view"}, Missing: Reject, Kind: canon.String}
			s.Columns[target] = &Column{Target: table.Columns[target].Name, Expr: expr, Missing: Keep, Kind: table.Columns[target].Kind, Layouts: DefaultLayouts}
			p, err := Compile(s, []string{"a", "b", "c"})
			if err != nil {
				var mc *MissingColumnError
				if errors.As(err, &mc) {
					continue // the expression names another column
				}
				t.Fatalf("compile %q: %v", expr, err)
			}
			var row Row
			p.Eval([]string{a, b, c}, nil, &row)
			switch {
			case row.Fail.Reason != "" && len(row.Rows) != 0:
				t.Fatalf("%q: rejected (%s) and a row", expr, row.Fail.Reason)
			case row.Fail.Reason == "" && len(row.Rows) != 1:
				t.Fatalf("%q: accepted with %d rows", expr, len(row.Rows))
			}
		}
	})
}
