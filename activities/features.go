package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/layout"
)

// FeaturesInput asks for one shard's features.
type FeaturesInput struct {
	RunID    string
	Shard    int
	Cutoff   time.Time // training features use events before it
	LabelEnd time.Time // training labels: a purchase in [Cutoff, LabelEnd]
	End      time.Time // scoring features use events up to it
}

// FeaturesOutput are the shard's counts and the aggregates the workflow
// reduces into global statistics.
type FeaturesOutput struct {
	Users     int64            // users with a scoring row
	TrainRows int64            // users with history before the cutoff
	Positives int64            // of those, buyers after the cutoff
	Moments   features.Moments // of transformed scoring features
	Buyers    int64            // users with an order
	BasketSum float64          // sum of their average order values
}

// Features reads shard i's events and writes its scoring and training
// feature tables.
func (a *Activities) Features(ctx context.Context, in FeaturesInput) (_ FeaturesOutput, err error) {
	defer final(&err)
	keys, err := a.Store.List(ctx, layout.EventsDir(in.RunID, in.Shard))
	if err != nil {
		return FeaturesOutput{}, err
	}
	if len(keys) == 0 {
		return FeaturesOutput{}, fmt.Errorf("shard %d: no event pieces under %s", in.Shard, layout.EventsDir(in.RunID, in.Shard))
	}
	b := features.NewBuilder(in.Cutoff, in.LabelEnd, in.End)
	for _, key := range keys {
		err := a.readArrow(ctx, key, canon.EventSchema, func(rec arrow.Record) error {
			ev, err := canon.NewEvents(rec)
			if err != nil {
				return err
			}
			for i := 0; i < ev.Len(); i++ {
				b.Add(ev.At(i))
			}
			return nil
		})
		if err != nil {
			return FeaturesOutput{}, fmt.Errorf("shard %d: %w", in.Shard, err)
		}
	}
	score, train := b.Score(), b.Train()
	out := FeaturesOutput{Users: int64(len(score)), TrainRows: int64(len(train)), Moments: features.NewMoments(len(features.Names))}
	aov := indexOf(features.Names, "avg_order_value")
	for _, r := range score {
		out.Moments.Add(features.Transform(r.Values))
		if r.Values[aov] > 0 {
			out.Buyers++
			out.BasketSum += r.Values[aov]
		}
	}
	for _, r := range train {
		if r.Label > 0 {
			out.Positives++
		}
	}
	for _, t := range []struct {
		key   string
		rows  []features.Row
		label bool
	}{
		{layout.Features(in.RunID, in.Shard), score, false},
		{layout.Train(in.RunID, in.Shard), train, true},
	} {
		rec := features.Record(t.rows, t.label, a.mem())
		schema := rec.Schema()
		err := a.writeArrow(ctx, t.key, schema, rec)
		rec.Release()
		if err != nil {
			return FeaturesOutput{}, fmt.Errorf("shard %d: %w", in.Shard, err)
		}
	}
	return out, nil
}

// readFeatures reads a feature table (scoring or training) of one shard.
func (a *Activities) readFeatures(ctx context.Context, key string, schema *arrow.Schema) ([]features.Row, error) {
	var rows []features.Row
	err := a.readArrow(ctx, key, schema, func(rec arrow.Record) error {
		r, err := features.Rows(rec)
		rows = append(rows, r...)
		return err
	})
	return rows, err
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	panic("unknown feature " + name)
}
