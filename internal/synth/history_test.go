package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"math"
	"slices"
	"strconv"
	"testing"
)

func history(t *testing.T, cfg HistoryConfig) [][]string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHistory(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestHistoryShape(t *testing.T) {
	rows := history(t, HistoryConfig{Config: Config{Users: 300, Seed: 4}})
	if !slices.Equal(rows[0], HistoryColumns) || len(rows) != 301 {
		t.Fatalf("header %q, %d rows", rows[0], len(rows))
	}
	col := func(name string) int { return slices.Index(HistoryColumns, name) }
	for i, r := range rows[1:] {
		if r[0] != UserID(i+1) || !slices.Contains(HistoryArms, r[col("arm")]) || r[col("propensity")] != "0.2" {
			t.Fatalf("row %d: %q", i+1, r)
		}
		resp := r[col("responded")]
		rev, err := strconv.ParseFloat(r[col("revenue")], 64)
		if err != nil || (resp == "0") != (rev == 0) || resp != "0" && resp != "1" {
			t.Fatalf("row %d: responded %q revenue %q", i+1, resp, r[col("revenue")])
		}
		// Missing values exactly where there is nothing to measure.
		freq := r[col("frequency")]
		if (freq == "0") != (r[col("recency_days")] == "") || (freq == "0") != (r[col("avg_order_value")] == "") {
			t.Fatalf("row %d: frequency %s but recency %q, aov %q", i+1, freq, r[col("recency_days")], r[col("avg_order_value")])
		}
		if !slices.Contains(Categories, r[col("main_category")]) || !slices.Contains(Channels, r[col("main_channel")]) {
			t.Fatalf("row %d: categorical %q %q", i+1, r[col("main_category")], r[col("main_channel")])
		}
	}
}

func TestHistoryDeterministic(t *testing.T) {
	sum := func(cfg HistoryConfig) [32]byte {
		var buf bytes.Buffer
		if err := WriteHistory(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(buf.Bytes())
	}
	base := HistoryConfig{Config: Config{Users: 500, Seed: 5}}
	if sum(base) != sum(base) {
		t.Error("same config, different bytes")
	}
	if sum(base) == sum(HistoryConfig{Config: Config{Users: 500, Seed: 6}}) {
		t.Error("other seed, same bytes")
	}
	// A user's row does not depend on how many users are generated.
	small := history(t, HistoryConfig{Config: Config{Users: 50, Seed: 5}})
	large := history(t, base)
	for i := range small {
		if !slices.Equal(small[i], large[i]) {
			t.Fatalf("row %d differs: %q vs %q", i, small[i], large[i])
		}
	}
	// Writing histories leaves the event output as it was.
	events := func() [32]byte {
		var buf bytes.Buffer
		if _, err := Write(&buf, Config{Users: 200, Seed: 5}); err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(buf.Bytes())
	}
	before := events()
	history(t, base)
	if events() != before {
		t.Error("event output changed")
	}
}

// TestHistoryEffects checks that outcomes follow the planted effects: per
// arm, the response rate minus control's matches the mean of
// Persona.Uplift, within sampling error.
func TestHistoryEffects(t *testing.T) {
	cfg := HistoryConfig{Config: Config{Users: 40000, Seed: 8}}
	rows := history(t, cfg)
	arm, resp := slices.Index(HistoryColumns, "arm"), slices.Index(HistoryColumns, "responded")
	n := map[string]float64{}
	y := map[string]float64{}
	var trueUplift = map[string]float64{}
	tr := NewTruth(cfg.Config)
	for _, r := range rows[1:] {
		p := tr.Persona(r[0])
		for _, o := range Offers {
			trueUplift[o] += p.Uplift[o] / float64(len(rows)-1)
		}
		n[r[arm]]++
		if r[resp] == "1" {
			y[r[arm]]++
		}
	}
	for _, o := range Offers {
		got := y[o]/n[o] - y["control"]/n["control"]
		se := math.Sqrt(0.25/n[o] + 0.25/n["control"])
		if math.Abs(got-trueUplift[o]) > 3*se {
			t.Errorf("%s: observed effect %.4f, planted mean %.4f (3 se = %.4f)", o, got, trueUplift[o], 3*se)
		}
		if math.Abs(n[o]/float64(len(rows)-1)-0.2) > 0.01 {
			t.Errorf("%s: share %.3f, want 0.2", o, n[o]/float64(len(rows)-1))
		}
	}
}

func TestHistoryTargeted(t *testing.T) {
	rows := history(t, HistoryConfig{Config: Config{Users: 2000, Seed: 2}, Targeted: true})
	col := func(name string) int { return slices.Index(HistoryColumns, name) }
	var total float64
	for _, r := range rows[1:] {
		rec, _ := strconv.ParseFloat(r[col("recency_days")], 64)
		recent := r[col("recency_days")] != "" && rec <= 30
		want := map[bool]map[bool]string{true: {true: "0.4", false: "0.15"}, false: {true: "0.1", false: "0.225"}}[recent][r[col("arm")] == "control"]
		if r[col("propensity")] != want {
			t.Fatalf("recent %v arm %s: propensity %s, want %s", recent, r[col("arm")], r[col("propensity")], want)
		}
		p, _ := strconv.ParseFloat(r[col("propensity")], 64)
		total += 1 / p
	}
	// Inverse propensities add up to about (number of arms) x users.
	if ratio := total / float64(len(rows)-1) / 5; math.Abs(ratio-1) > 0.05 {
		t.Errorf("mean inverse propensity / 5 = %.3f, want 1", ratio)
	}
	var buf bytes.Buffer
	if err := WriteHistory(&buf, HistoryConfig{Config: Config{Users: 1}, Shares: []float64{0.5, 0.5}}); err == nil {
		t.Error("two shares for five arms accepted")
	}
}

// TestEffectModel checks that the planted effects are what the history
// shows of a user: the covariates explain every effect up to the hidden
// term (standard deviation effectNoise, plus clipping), while users of one
// persona differ by much more than that.
func TestEffectModel(t *testing.T) {
	cfg := Config{Users: 5000, Seed: 11}
	g := newGen(cfg)
	tr := NewTruth(cfg)
	var hidden, hidden2 float64
	var n int
	byPersona := map[string][]float64{} // discount10 effects
	for i := 1; i <= cfg.Users; i++ {
		p := tr.Persona(UserID(i))
		pr := g.profile(i)
		cov := g.covariates(i, &pr)
		explained := effects(&cov, pr.base, [4]float64{})
		for j, o := range Offers {
			d := p.Uplift[o] - explained[j]
			hidden += d
			hidden2 += d * d
			n++
		}
		byPersona[p.Name] = append(byPersona[p.Name], p.Uplift["discount10"])
	}
	mean := hidden / float64(n)
	sd := math.Sqrt(hidden2/float64(n) - mean*mean)
	if math.Abs(mean) > 0.001 || sd > 1.05*effectNoise || sd < 0.8*effectNoise {
		t.Errorf("hidden part of the effects: mean %.4f, sd %.4f; want about 0 and %.2f", mean, sd, effectNoise)
	}
	v := byPersona["bargain_hunter"]
	var s, s2 float64
	for _, x := range v {
		s += x
		s2 += x * x
	}
	m := s / float64(len(v))
	if within := math.Sqrt(s2/float64(len(v)) - m*m); within < 4*effectNoise {
		t.Errorf("bargain hunters' discount10 effects: sd %.4f, want > %.2f (behaviour, not persona alone, drives effects)", within, 4*effectNoise)
	} else {
		t.Logf("bargain hunters' discount10 effect: mean %.3f, sd %.3f; hidden part sd %.4f", m, within, sd)
	}
}
