package activities

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/sim"
	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/internal/synth"
)

// SimulateWeekInput names one simulated week's published plan and the
// generated world its users come from.
type SimulateWeekInput struct {
	RunID    string // the regeneration whose plan rows and features to read
	Campaign string
	Shards   int
	Week     int
	World    synth.Config // the generator's configuration: the users' hidden truth
	Catalog  []campaign.Offer
	Margin   float64
	Baseline string    // offer id of the blanket baseline
	Start    time.Time // the campaign window's start; purchases fall in the next day
	// DefaultBasket is the order value of users without orders, as the
	// synthetic campaign history uses (synth.WriteHistory: 40).
	DefaultBasket float64
}

// SimulateWeekOutput is the week's profits and where its outcomes are.
type SimulateWeekOutput struct {
	sim.Week
	Outcomes  string // key of the outcome events (canonical CSV)
	History   string // key of the week's campaign history (internal/synth's history columns)
	Purchases int
}

// SimulateWeek lets the world answer a published plan: every user buys
// with their true probability given the offer they got (control and "none"
// users without an offer), written as canonical purchase events under
// raw/sim/<campaign>/outcomes.csv; and it scores the plan, the oracle and
// the blanket baseline by true expected incremental profit.
func (a *Activities) SimulateWeek(ctx context.Context, in SimulateWeekInput) (_ SimulateWeekOutput, err error) {
	defer final(&err)
	var base campaign.Offer
	for _, o := range in.Catalog {
		if o.ID == in.Baseline {
			base = o
		}
	}
	if base.ID == "" {
		return SimulateWeekOutput{}, fmt.Errorf("baseline offer %q not in the catalog", in.Baseline)
	}
	out := SimulateWeekOutput{
		Week:     sim.Week{Week: in.Week},
		Outcomes: layout.Raw("sim", in.Campaign+"/outcomes.csv"), History: layout.Raw("sim", in.Campaign+"/history.csv"),
	}
	var buf, hist bytes.Buffer
	ow, err := sim.NewOutcomeWriter(&buf)
	if err != nil {
		return SimulateWeekOutput{}, err
	}
	hw, err := sim.NewHistoryWriter(&hist, in.Campaign, in.Start)
	if err != nil {
		return SimulateWeekOutput{}, err
	}
	aov := indexOf(features.Names, "avg_order_value")
	ts := in.Start.Add(12 * time.Hour)
	for i := 0; i < in.Shards; i++ {
		feats, err := a.readFeatures(ctx, layout.Features(in.RunID, i), features.Schema)
		if err != nil {
			return SimulateWeekOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		basket := make(map[string]float64, len(feats))
		for _, f := range feats {
			basket[f.UserID] = f.Values[aov]
		}
		err = a.readArrow(ctx, layout.Scores(in.RunID, i), plan.Schema, func(rec arrow.Record) error {
			rows, err := plan.Rows(rec)
			if err != nil {
				return err
			}
			for _, r := range rows {
				b := basket[r.UserID]
				if b <= 0 {
					b = in.DefaultBasket
				}
				u, err := sim.Truth(in.World, r.UserID, b)
				if err != nil {
					return err
				}
				offer := r.Offer
				if r.Control {
					offer = strategy.None
				} else {
					if err := out.Score(u, offer, in.Catalog, base, in.Margin); err != nil {
						return err
					}
					out.ScoreSegment(u, r.Segment, in.Catalog, in.Margin)
				}
				bought := sim.Respond(u, offer, fmt.Sprintf("%s/%d", in.Campaign, in.World.Seed))
				if bought {
					if err := ow.Purchase(u, ts, in.Campaign); err != nil {
						return err
					}
				}
				if err := hw.Row(u, offer, bought); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return SimulateWeekOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	out.Finish()
	out.Purchases = ow.Purchases()
	if err := a.Store.Put(ctx, out.Outcomes, buf.Bytes()); err != nil {
		return SimulateWeekOutput{}, err
	}
	if err := a.Store.Put(ctx, out.History, hist.Bytes()); err != nil {
		return SimulateWeekOutput{}, err
	}
	return out, nil
}
