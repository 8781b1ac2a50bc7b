package activities

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/promoflow/promoflow/internal/campaign"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
	"github.com/promoflow/promoflow/internal/sim"
	"github.com/promoflow/promoflow/internal/synth"
)

// SimulateDropInput is one week's delivery of the simulated world.
type SimulateDropInput struct {
	Prefix string       // the raw/ prefix the schedule reads, "/"-terminated
	World  synth.Config // the world as of this week (End: the drop's date)
}

// SimulateDrop writes the world's events up to World.End as a drop under
// Prefix (<Prefix><YYYY-MM-DD>/events.csv.gz), the way a shop's export
// lands each week for the schedule's run to read. The world moves on: each
// week's drop is the generator's history ending a week later, so users'
// features (and the effects that depend on them) change from week to week.
func (a *Activities) SimulateDrop(ctx context.Context, in SimulateDropInput) (_ string, err error) {
	defer final(&err)
	dir, err := os.MkdirTemp(a.TempDir, "drop-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.csv.gz")
	if _, err := synth.WriteFile(path, in.World); err != nil {
		return "", err
	}
	key := layout.Drop(in.Prefix, in.World.End, "events.csv.gz")
	return key, a.Store.PutFile(ctx, key, path)
}

// AwaitHistory succeeds once the evaluation of campaign has written its
// history (history/<template>/<campaign>.parquet), and fails with a
// retryable error until then: the simulator waits on it with a retry
// policy, since the evaluation is the regeneration's child, not its own.
func (a *Activities) AwaitHistory(ctx context.Context, template, campaign string) (err error) {
	defer final(&err)
	key := layout.History(template, campaign)
	keys, err := a.Store.List(ctx, key)
	if err != nil {
		return err
	}
	if !slices.Contains(keys, key) {
		return fmt.Errorf("campaign %s: not evaluated yet", campaign)
	}
	return nil
}

// SimulateWeekInput names one simulated week's published plan and the
// generated world its users come from.
type SimulateWeekInput struct {
	RunID    string // the regeneration whose plan rows and features to read
	Campaign string
	Shards   int
	Week     int
	World    synth.Config // the world as of the campaign's decision: the users' hidden truth
	Catalog  []campaign.Offer
	Margin   float64
	Baseline string    // offer id of the blanket baseline
	Start    time.Time // the campaign window's start; purchases fall in the next day
	// DefaultBasket is the order value of users without orders, as the
	// synthetic campaign history uses (synth.FirstBasket).
	DefaultBasket float64
}

// SimulateWeekOutput is the week's profits and where its outcomes are.
type SimulateWeekOutput struct {
	sim.Week
	Outcomes  string // key of the outcome events (canonical CSV, under the evaluation's default prefix)
	Purchases int
}

// SimulateWeek lets the world answer a published plan: every user buys
// with their true probability given the offer they got (control and "none"
// users without an offer), written as canonical purchase events where the
// campaign's evaluation looks by default (raw/outcomes/<campaign>/), as a
// shop's outcome drop would be; and it scores the plan, the oracle and the
// blanket baseline by true expected incremental profit.
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
		Outcomes: layout.Outcomes(in.Campaign) + "outcomes.csv",
	}
	var buf bytes.Buffer
	ow, err := sim.NewOutcomeWriter(&buf)
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
					offer = campaign.None
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
	return out, nil
}
