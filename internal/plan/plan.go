// Package plan is the campaign plan table: one row per user with the chosen
// promotion, published as Parquet for analysts' tools and CSV for everyone.
package plan

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

// Row is one user's line of the plan.
type Row struct {
	UserID                     string
	Segment                    string
	Offer                      string // the offer sent; campaign.None for control users and users who get nothing
	Channel                    string // the offer's channel; campaign.None without an offer
	ExpectedIncrementalRevenue float64
	ExpectedCost               float64 // zero without an offer: the column sums to the budget used
	Control                    bool    // held out: never contacted
	HoldoutOffer               string  // a control user's offer had they not been held out; campaign.None otherwise
	// HoldoutExpectedIncrementalRevenue is, for a control user, the
	// expected incremental revenue of HoldoutOffer (what the evaluation's
	// calibration compares with the treated); zero otherwise.
	HoldoutExpectedIncrementalRevenue float64
	Explore                           bool    // the offer was drawn at random (exploration), not chosen
	Reasons                           string  // the two or three features or rules that drove the choice
	Source                            string  // where the estimate came from: uplift, state or prior; campaign.None without an offer
	Propensity                        float64 // predicted probability of purchase without an offer
	// AssignmentProbability is the probability that the decision's
	// randomization (control group, exploration) gave this user what the
	// row says they get: the offer, or no offer for control users and users
	// who get nothing. Logged for inverse-propensity weighting when the
	// campaign's history trains later decisions.
	AssignmentProbability float64
	CampaignID            string
	WindowStart           time.Time // the campaign window, UTC
	WindowEnd             time.Time
	// RecommendedItems are the products the promotion features for the
	// user, best first, item ids joined by "|" (internal/recommend); ""
	// when the run made no recommendations.
	RecommendedItems string
	// RecommendedCategory is the most frequent category among
	// RecommendedItems; "" when they have none.
	RecommendedCategory string
}

// timestamp is the Arrow type of the window columns.
var timestamp = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

// Schema is the plan's Arrow schema.
var Schema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "segment", Type: arrow.BinaryTypes.String},
	{Name: "offer", Type: arrow.BinaryTypes.String},
	{Name: "channel", Type: arrow.BinaryTypes.String},
	{Name: "expected_incremental_revenue", Type: arrow.PrimitiveTypes.Float64},
	{Name: "expected_cost", Type: arrow.PrimitiveTypes.Float64},
	{Name: "control", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "holdout_offer", Type: arrow.BinaryTypes.String},
	{Name: "holdout_expected_incremental_revenue", Type: arrow.PrimitiveTypes.Float64},
	{Name: "explore", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "reasons", Type: arrow.BinaryTypes.String},
	{Name: "source", Type: arrow.BinaryTypes.String},
	{Name: "propensity", Type: arrow.PrimitiveTypes.Float64},
	{Name: "assignment_probability", Type: arrow.PrimitiveTypes.Float64},
	{Name: "campaign_id", Type: arrow.BinaryTypes.String},
	{Name: "window_start", Type: timestamp},
	{Name: "window_end", Type: timestamp},
	{Name: "recommended_items", Type: arrow.BinaryTypes.String},
	{Name: "recommended_category", Type: arrow.BinaryTypes.String},
}, nil)

// Columns are the plan's columns, in order (Schema's names); also the CSV
// header.
var Columns = func() []string {
	names := make([]string, len(Schema.Fields()))
	for i, f := range Schema.Fields() {
		names[i] = f.Name
	}
	return names
}()

// Record encodes rows; the caller must Release it.
func Record(rows []Row, mem memory.Allocator) arrow.Record {
	b := array.NewRecordBuilder(mem, Schema)
	defer b.Release()
	f := b.Fields()
	for _, r := range rows {
		f[0].(*array.StringBuilder).Append(r.UserID)
		f[1].(*array.StringBuilder).Append(r.Segment)
		f[2].(*array.StringBuilder).Append(r.Offer)
		f[3].(*array.StringBuilder).Append(r.Channel)
		f[4].(*array.Float64Builder).Append(r.ExpectedIncrementalRevenue)
		f[5].(*array.Float64Builder).Append(r.ExpectedCost)
		f[6].(*array.BooleanBuilder).Append(r.Control)
		f[7].(*array.StringBuilder).Append(r.HoldoutOffer)
		f[8].(*array.Float64Builder).Append(r.HoldoutExpectedIncrementalRevenue)
		f[9].(*array.BooleanBuilder).Append(r.Explore)
		f[10].(*array.StringBuilder).Append(r.Reasons)
		f[11].(*array.StringBuilder).Append(r.Source)
		f[12].(*array.Float64Builder).Append(r.Propensity)
		f[13].(*array.Float64Builder).Append(r.AssignmentProbability)
		f[14].(*array.StringBuilder).Append(r.CampaignID)
		f[15].(*array.TimestampBuilder).Append(arrow.Timestamp(r.WindowStart.UnixMilli()))
		f[16].(*array.TimestampBuilder).Append(arrow.Timestamp(r.WindowEnd.UnixMilli()))
		f[17].(*array.StringBuilder).Append(r.RecommendedItems)
		f[18].(*array.StringBuilder).Append(r.RecommendedCategory)
	}
	return b.NewRecord()
}

// Rows decodes a record of Schema.
func Rows(rec arrow.Record) ([]Row, error) {
	if !rec.Schema().Equal(Schema) {
		return nil, fmt.Errorf("plan record: unexpected schema %v", rec.Schema())
	}
	c := rec.Columns()
	str := func(i, r int) string { return string([]byte(c[i].(*array.String).Value(r))) }
	f64 := func(i, r int) float64 { return c[i].(*array.Float64).Value(r) }
	ts := func(i, r int) time.Time { return time.UnixMilli(int64(c[i].(*array.Timestamp).Value(r))).UTC() }
	out := make([]Row, rec.NumRows())
	for r := range out {
		out[r] = Row{
			UserID: str(0, r), Segment: str(1, r), Offer: str(2, r), Channel: str(3, r),
			ExpectedIncrementalRevenue: f64(4, r), ExpectedCost: f64(5, r),
			Control: c[6].(*array.Boolean).Value(r), HoldoutOffer: str(7, r), HoldoutExpectedIncrementalRevenue: f64(8, r),
			Explore: c[9].(*array.Boolean).Value(r), Reasons: str(10, r), Source: str(11, r), Propensity: f64(12, r),
			AssignmentProbability: f64(13, r), CampaignID: str(14, r), WindowStart: ts(15, r), WindowEnd: ts(16, r),
			RecommendedItems: str(17, r), RecommendedCategory: str(18, r),
		}
	}
	return out, nil
}

// ParquetWriter writes plan records to a Parquet file, one row group per
// record. Output bytes depend only on the rows: no timestamps are written.
type ParquetWriter struct{ w *pqarrow.FileWriter }

// NewParquetWriter starts a Parquet file on w.
func NewParquetWriter(w io.Writer, mem memory.Allocator) (*ParquetWriter, error) {
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(mem),
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithCreatedBy("promoflow"),
	)
	fw, err := pqarrow.NewFileWriter(Schema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
	if err != nil {
		return nil, fmt.Errorf("plan parquet: %w", err)
	}
	return &ParquetWriter{w: fw}, nil
}

// Write appends rec as a row group.
func (p *ParquetWriter) Write(rec arrow.Record) error { return p.w.Write(rec) }

// Close writes the footer.
func (p *ParquetWriter) Close() error { return p.w.Close() }

// CSVWriter writes plan rows as CSV with a header.
type CSVWriter struct {
	w      *csv.Writer
	header bool
}

// NewCSVWriter returns a CSV writer on w.
func NewCSVWriter(w io.Writer) *CSVWriter { return &CSVWriter{w: csv.NewWriter(w)} }

// Write appends rows.
func (c *CSVWriter) Write(rows []Row) error {
	if !c.header {
		c.header = true
		if err := c.w.Write(Columns); err != nil {
			return err
		}
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
	for _, r := range rows {
		rec := []string{r.UserID, r.Segment, r.Offer, r.Channel, f(r.ExpectedIncrementalRevenue), f(r.ExpectedCost),
			strconv.FormatBool(r.Control), r.HoldoutOffer, f(r.HoldoutExpectedIncrementalRevenue), strconv.FormatBool(r.Explore), r.Reasons, r.Source, f(r.Propensity),
			f(r.AssignmentProbability), r.CampaignID, r.WindowStart.UTC().Format(time.RFC3339), r.WindowEnd.UTC().Format(time.RFC3339),
			r.RecommendedItems, r.RecommendedCategory}
		if err := c.w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

// Close flushes buffered rows; it writes the header if no rows came.
func (c *CSVWriter) Close() error {
	if !c.header {
		if err := c.Write(nil); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}
