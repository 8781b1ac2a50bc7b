// Package adjust holds what a campaign template has learned from the
// evaluations of its earlier campaigns: response estimates per segment and
// offer, retired offers and exploration shares. The evaluation workflow
// writes it to state/<template>/latest.json; the next regeneration reads it.
package adjust

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/promoflow/promoflow/internal/evaluate"
	"github.com/promoflow/promoflow/internal/layout"
)

// Estimate is the measured incremental effect of an offer against the
// control group: a posterior mean shrunk toward the global effect.
type Estimate struct {
	Response   float64 `json:"response"`    // incremental probability of purchase per treated user
	Revenue    float64 `json:"revenue"`     // incremental revenue per treated user
	ResponseSD float64 `json:"response_sd"` // posterior standard deviation of Response
	RevenueSD  float64 `json:"revenue_sd"`  // posterior standard deviation of Revenue
	N          int64   `json:"n"`           // treated users behind the estimate
}

// State is a template's adjustment state.
type State struct {
	Template  string    `json:"template"`
	Version   int       `json:"version"`  // increases by one with every evaluation
	Campaign  string    `json:"campaign"` // the last evaluated campaign
	UpdatedAt time.Time `json:"updated_at"`
	// Offers are the global estimates per offer id.
	Offers map[string]Estimate `json:"offers"`
	// Cells are the estimates per segment name, then offer id.
	Cells map[string]map[string]Estimate `json:"cells"`
	// Retired offers had a reliably negative measured lift: not offered again.
	Retired []string `json:"retired,omitempty"`
	// Explore is the exploration share per offer id for uncertain offers.
	Explore map[string]float64 `json:"explore,omitempty"`
	// Counts are the outcome sums behind Cells, summed over every
	// evaluation so far (segment name, then offer id): each update
	// recomputes the posteriors from them.
	Counts map[string]map[string]Counts `json:"counts,omitempty"`
}

// Counts are the treated and control outcome sums of one cell.
type Counts struct {
	Treated evaluate.Arm `json:"treated"`
	Control evaluate.Arm `json:"control"`
}

// Key is where a template's latest state lives in the bucket
// (layout.State).
func Key(template string) string { return layout.State(template) }

// Parse reads a state written by Marshal.
func Parse(data []byte) (*State, error) {
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("adjust: state: %w", err)
	}
	return &s, nil
}

// Marshal writes s as indented JSON.
func (s *State) Marshal() ([]byte, error) { return json.MarshalIndent(s, "", "  ") }

// Estimate returns the estimate for offer in segment, falling back to the
// offer's global estimate; ok is false when neither exists.
func (s *State) Estimate(segment, offer string) (e Estimate, ok bool) {
	if s == nil {
		return Estimate{}, false
	}
	if e, ok := s.Cells[segment][offer]; ok {
		return e, true
	}
	e, ok = s.Offers[offer]
	return e, ok
}
