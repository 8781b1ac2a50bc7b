package evaluate

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Outcome is what one user did in the campaign window.
type Outcome struct {
	Responded   bool
	Conversions int64 // distinct orders (purchase lines without an order id count one each)
	Revenue     float64
	orders      map[string]bool
}

// AddPurchase records in out one purchase line of user's order (may be
// "") worth revenue.
func AddPurchase(out map[string]*Outcome, user, order string, revenue float64) {
	o := out[user]
	if o == nil {
		o = &Outcome{}
		out[user] = o
	}
	o.Responded = true
	o.Revenue += revenue
	if order == "" {
		o.Conversions++
		return
	}
	if o.orders == nil {
		o.orders = map[string]bool{}
	}
	if !o.orders[order] {
		o.orders[order] = true
		o.Conversions++
	}
}

// header maps the wanted column names to their indexes in a CSV header,
// or says which one is missing.
func header(name string, rec []string, want ...string) (map[string]int, error) {
	idx := map[string]int{}
	for i, h := range rec {
		idx[h] = i
	}
	for _, w := range want {
		if _, ok := idx[w]; !ok {
			return nil, fmt.Errorf("%s:1: no %q column in header %v", name, w, rec)
		}
	}
	return idx, nil
}

// ReadPlan reads a published plan CSV (internal/plan columns; extra columns
// are ignored) named name, for error messages. A control row's Offer is its
// holdout_offer; plans written before that column existed kept it in offer.
// Plans without explore or assignment_probability columns read as not
// exploring and probability NaN (unknown).
func ReadPlan(r io.Reader, name string) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	rec, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", name, err)
	}
	col, err := header(name, rec, "user_id", "segment", "offer", "control", "expected_incremental_revenue", "propensity")
	if err != nil {
		return nil, err
	}
	optional := func(c string) int {
		if i, ok := col[c]; ok {
			return i
		}
		return -1
	}
	holdout, holdoutRev := optional("holdout_offer"), optional("holdout_expected_incremental_revenue")
	explore, assigned := optional("explore"), optional("assignment_probability")
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		boolAt := func(c string, i int) (bool, error) {
			v, err := strconv.ParseBool(rec[i])
			if err != nil {
				return false, fmt.Errorf("%s:%d:%d: %s %q: want true or false", name, line, i+1, c, rec[i])
			}
			return v, nil
		}
		numAt := func(c string, i int) (float64, error) {
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				return 0, fmt.Errorf("%s:%d:%d: %s %q: not a number", name, line, i+1, c, rec[i])
			}
			return v, nil
		}
		row := Row{UserID: rec[col["user_id"]], Segment: rec[col["segment"]], Offer: rec[col["offer"]], AssignmentProbability: math.NaN()}
		if row.Control, err = boolAt("control", col["control"]); err != nil {
			return nil, err
		}
		if row.Predicted, err = numAt("expected_incremental_revenue", col["expected_incremental_revenue"]); err != nil {
			return nil, err
		}
		if row.Propensity, err = numAt("propensity", col["propensity"]); err != nil {
			return nil, err
		}
		if row.Control && holdout >= 0 {
			row.Offer = rec[holdout]
			if holdoutRev >= 0 {
				if row.Predicted, err = numAt("holdout_expected_incremental_revenue", holdoutRev); err != nil {
					return nil, err
				}
			}
		}
		if explore >= 0 {
			if row.Explore, err = boolAt("explore", explore); err != nil {
				return nil, err
			}
		}
		if assigned >= 0 {
			if row.AssignmentProbability, err = numAt("assignment_probability", assigned); err != nil {
				return nil, err
			}
		}
		rows = append(rows, row)
	}
}

// ReadOutcomes adds the purchases of a canonical events CSV named name with
// ts in [start, end) to out, by user: a purchase line makes its user a
// responder and adds quantity x price to their revenue. Other event types
// and events outside the window are skipped: the file may hold the whole
// event stream. A malformed purchase fails with file:line:column.
func ReadOutcomes(r io.Reader, name string, start, end time.Time, out map[string]*Outcome) (purchases int, err error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	rec, err := cr.Read()
	if err != nil {
		return 0, fmt.Errorf("%s: header: %w", name, err)
	}
	col, err := header(name, rec, "user_id", "ts", "type", "quantity", "price")
	if err != nil {
		return 0, err
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return purchases, nil
		}
		if err != nil {
			return purchases, fmt.Errorf("%s: %w", name, err)
		}
		if rec[col["type"]] != "purchase" {
			continue
		}
		ts, err := time.Parse(time.RFC3339, rec[col["ts"]])
		if err != nil {
			return purchases, fmt.Errorf("%s:%d:%d: ts %q: want RFC 3339", name, line, col["ts"]+1, rec[col["ts"]])
		}
		if ts.Before(start) || !ts.Before(end) {
			continue
		}
		q, err := strconv.ParseFloat(rec[col["quantity"]], 64)
		if err != nil {
			return purchases, fmt.Errorf("%s:%d:%d: quantity %q: not a number", name, line, col["quantity"]+1, rec[col["quantity"]])
		}
		p, err := strconv.ParseFloat(rec[col["price"]], 64)
		if err != nil {
			return purchases, fmt.Errorf("%s:%d:%d: price %q: not a number", name, line, col["price"]+1, rec[col["price"]])
		}
		u := rec[col["user_id"]]
		if u == "" {
			return purchases, fmt.Errorf("%s:%d:%d: purchase without user_id", name, line, col["user_id"]+1)
		}
		order := ""
		if oc, ok := col["order_id"]; ok {
			order = rec[oc]
		}
		AddPurchase(out, u, order, q*p)
		purchases++
	}
}

// Join fills each row's outcome from outcomes (users without one did not
// buy) and returns how many outcome users are not in the plan.
func Join(rows []Row, outcomes map[string]*Outcome) (unknown int) {
	seen := make(map[string]bool, len(rows))
	for i := range rows {
		seen[rows[i].UserID] = true
		if o := outcomes[rows[i].UserID]; o != nil {
			rows[i].Responded, rows[i].Conversions, rows[i].Revenue = o.Responded, o.Conversions, o.Revenue
		}
	}
	for u := range outcomes {
		if !seen[u] {
			unknown++
		}
	}
	return unknown
}
