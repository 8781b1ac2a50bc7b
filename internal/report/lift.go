package report

import (
	"cmp"
	"slices"
)

// LiftPoint is a point of the expected lift curve: the users targeted so
// far, best first, and their cumulative expected incremental revenue and
// cost.
type LiftPoint struct {
	Users   int64   `json:"users"`
	Revenue float64 `json:"revenue"`
	Cost    float64 `json:"cost"`
}

// Lift collects treated users' expected incremental revenue and cost for
// the lift curve. The zero value is ready to use.
type Lift struct {
	rows []liftRow
}

type liftRow struct{ rev, cost float64 }

// Add counts one treated user. Non-finite values count as zero, so the
// curve's totals stay finite and the user is still counted.
func (l *Lift) Add(revenue, cost float64) {
	l.rows = append(l.rows, liftRow{finite(revenue), finite(cost)})
}

// Len is the number of users added.
func (l *Lift) Len() int { return len(l.rows) }

// Curve orders the users by expected incremental revenue, highest first
// (ties: cheaper first), and returns the cumulative sums at the origin, at
// the end and at most points-2 evenly spaced counts between. The result is
// the same whatever order users were added in.
func (l *Lift) Curve(points int) []LiftPoint {
	points = max(points, 2)
	rows := slices.Clone(l.rows)
	slices.SortFunc(rows, func(a, b liftRow) int {
		if c := cmp.Compare(b.rev, a.rev); c != 0 {
			return c
		}
		return cmp.Compare(a.cost, b.cost)
	})
	n := len(rows)
	out := []LiftPoint{{}}
	if n == 0 {
		return out
	}
	step := max(1, (n+points-2)/(points-1))
	var p LiftPoint
	for i, r := range rows {
		p.Users++
		p.Revenue += r.rev
		p.Cost += r.cost
		if (i+1)%step == 0 || i == n-1 {
			out = append(out, p)
		}
	}
	return out
}
