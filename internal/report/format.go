package report

import (
	"math"
	"strconv"
	"strings"
)

// NA is how a missing or non-finite number is shown.
const NA = "n/a"

// Int formats n with thousands separators: 1234567 → "1,234,567".
func Int(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Money formats v with two decimals and thousands separators:
// 1234.5 → "1,234.50". Non-finite values are NA.
func Money(v float64) string { return Fixed(v, 2) }

// Fixed formats v with d decimals and thousands separators. Non-finite
// values are NA.
func Fixed(v float64, d int) string {
	if !isFinite(v) {
		return NA
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', d, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil { // beyond int64: leave it unseparated
		return strconv.FormatFloat(v, 'f', d, 64)
	}
	out := Int(n)
	if frac != "" {
		out += "." + frac
	}
	if v < 0 && strings.Trim(out, "0.,") != "" {
		out = "-" + out
	}
	return out
}

// Pct formats a share as a percentage with one decimal: 0.1234 → "12.3%".
func Pct(share float64) string {
	if !isFinite(share) {
		return NA
	}
	return strconv.FormatFloat(share*100, 'f', 1, 64) + "%"
}

// Short formats v compactly for axis ticks: 950, 1.2k, 3.4M, 5.6B.
func Short(v float64) string {
	if !isFinite(v) {
		return NA
	}
	a := math.Abs(v)
	var s string
	switch {
	case a >= 1e9:
		s = trim(v/1e9) + "B"
	case a >= 1e6:
		s = trim(v/1e6) + "M"
	case a >= 1e3:
		s = trim(v/1e3) + "k"
	default:
		s = trim(v)
	}
	return s
}

// trim prints at most two significant decimals and no trailing zeros.
func trim(v float64) string {
	d := 2
	if math.Abs(v) >= 100 {
		d = 0
	} else if math.Abs(v) >= 10 {
		d = 1
	}
	s := strconv.FormatFloat(v, 'f', d, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// Ratio is a/b, or NaN when b is zero, for shares and averages that the
// formatters then show as NA.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
