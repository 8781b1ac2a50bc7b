package live

import (
	"math"
	"slices"
	"time"
)

// ApplyEvent returns a copy of a user's features (values in the order of
// names, features.Names) as of the features' end, moved to now and by the
// triggering event, so that the models score the user as they stand:
//   - every event: recency_days grows by the days from end to now;
//   - cart_abandoned: one more session, with a cart, abandoned
//     (sessions_per_week, carts_per_week, cart_abandonment);
//   - search_no_purchase: one more session with a search
//     (sessions_per_week, searches_per_week);
//   - lapsed: nothing more (the lapse is the recency already).
//
// Rates per week are over the user's tenure in weeks (at least one).
// Missing features are left alone.
func ApplyEvent(names []string, x []float64, event string, end, now time.Time) []float64 {
	y := slices.Clone(x)
	at := func(name string) int { return slices.Index(names, name) }
	if i := at("recency_days"); i >= 0 && now.After(end) {
		y[i] += now.Sub(end).Hours() / 24
	}
	weeks := 1.0
	if i := at("tenure_days"); i >= 0 {
		weeks = math.Max(1, y[i]/7)
	}
	add := func(name string, v float64) {
		if i := at(name); i >= 0 {
			y[i] += v
		}
	}
	switch event {
	case CartAbandoned:
		if i, j := at("cart_abandonment"), at("sessions_per_week"); i >= 0 && j >= 0 {
			n := y[j] * weeks // sessions so far
			y[i] = (y[i]*n + 1) / (n + 1)
		}
		add("sessions_per_week", 1/weeks)
		add("carts_per_week", 1/weeks)
	case SearchNoPurchase:
		add("sessions_per_week", 1/weeks)
		add("searches_per_week", 1/weeks)
	}
	return y
}
