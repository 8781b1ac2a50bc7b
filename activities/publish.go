package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/plan"
)

// PublishInput names the shards' plan rows and the campaign to publish.
type PublishInput struct {
	Campaign  string
	ScoreKeys []string // in shard order
}

// PublishOutput says where the plan is.
type PublishOutput struct {
	Parquet string // s3:// addresses
	CSV     string
	Summary string // where WriteSummary will put the summary
	Rows    int64
}

// Publish concatenates the shards' plan rows, in shard order, into
// campaigns/<campaign>/plan.parquet and plan.csv. The bytes depend only on
// the rows, so the same run publishes the same files.
func (a *Activities) Publish(ctx context.Context, in PublishInput) (_ PublishOutput, err error) {
	defer final(&err)
	// The plan grows with the users (about 230 bytes a user as CSV): it is
	// streamed to the bucket in parts as the shards are read, never held
	// whole in memory or on disk.
	prefix := layout.Campaign(in.Campaign)
	pqObj, err := a.Store.Create(ctx, prefix+"plan.parquet")
	if err != nil {
		return PublishOutput{}, err
	}
	defer pqObj.Abort()
	csvObj, err := a.Store.Create(ctx, prefix+"plan.csv")
	if err != nil {
		return PublishOutput{}, err
	}
	defer csvObj.Abort()
	// The Parquet writer closes what it writes to; the object is closed
	// here, once both files are complete.
	pw, err := plan.NewParquetWriter(struct{ io.Writer }{pqObj}, a.mem())
	if err != nil {
		return PublishOutput{}, err
	}
	cw := plan.NewCSVWriter(csvObj)
	var n int64
	for i, key := range in.ScoreKeys {
		err := a.readArrow(ctx, key, plan.Schema, func(rec arrow.Record) error {
			rows, err := plan.Rows(rec)
			if err != nil {
				return err
			}
			n += int64(len(rows))
			if err := pw.Write(rec); err != nil {
				return err
			}
			return cw.Write(rows)
		})
		if err != nil {
			return PublishOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	if err := errors.Join(pw.Close(), cw.Close()); err != nil {
		return PublishOutput{}, err
	}
	if err := pqObj.Close(); err != nil {
		return PublishOutput{}, err
	}
	if err := csvObj.Close(); err != nil {
		return PublishOutput{}, err
	}
	return PublishOutput{
		Parquet: a.Store.URL(prefix + "plan.parquet"), CSV: a.Store.URL(prefix + "plan.csv"),
		Summary: a.Store.URL(prefix + "summary.json"), Rows: n,
	}, nil
}

// WriteSummaryInput is a run's summary, to be stored beside its plan.
type WriteSummaryInput struct {
	Campaign string
	Summary  json.RawMessage
}

// WriteSummary stores campaigns/<campaign>/summary.json, written last so its
// presence means the campaign is complete, and returns its address.
func (a *Activities) WriteSummary(ctx context.Context, in WriteSummaryInput) (_ string, err error) {
	defer final(&err)
	var indented bytes.Buffer
	if err := json.Indent(&indented, in.Summary, "", "  "); err != nil {
		return "", fmt.Errorf("summary: %w", err)
	}
	indented.WriteByte('\n')
	key := layout.CampaignSummary(in.Campaign)
	if err := a.Store.Put(ctx, key, indented.Bytes()); err != nil {
		return "", err
	}
	if t := templateOf(in.Summary); t != "" {
		// The template's overview lists the campaign from now on, live
		// until its evaluation.
		if err := a.Store.Put(ctx, layout.TemplateCampaign(t, in.Campaign), nil); err != nil {
			return "", err
		}
		a.refreshOverview(ctx, t)
	}
	return a.Store.URL(key), nil
}
