package uplift

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/promoflow/promoflow/internal/arrowio"
)

// DataSchema is the Arrow schema of a stored fold of Data with the given
// encoded features: id, arm index, outcome, propensity, then the features.
func DataSchema(features []string) *arrow.Schema {
	fields := []arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "arm", Type: arrow.PrimitiveTypes.Int32},
		{Name: "outcome", Type: arrow.PrimitiveTypes.Float64},
		{Name: "propensity", Type: arrow.PrimitiveTypes.Float64},
	}
	for _, f := range features {
		fields = append(fields, arrow.Field{Name: "x:" + f, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

// loggedKey is the schema metadata key that records Data.Logged in a
// stored fold; metadata, unlike a column, leaves DataSchema as it was.
const loggedKey = "uplift.logged"

// EncodeFold encodes the rows of fold k as an Arrow IPC file.
func EncodeFold(d *Data, k int, mem memory.Allocator) ([]byte, error) {
	schema := DataSchema(d.Features)
	if d.Logged {
		md := arrow.NewMetadata([]string{loggedKey}, []string{"true"})
		schema = arrow.NewSchema(schema.Fields(), &md)
	}
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, i := range d.FoldRows(k) {
		b.Field(0).(*array.StringBuilder).Append(d.IDs[i])
		b.Field(1).(*array.Int32Builder).Append(int32(d.A[i]))
		b.Field(2).(*array.Float64Builder).Append(d.Y[i])
		b.Field(3).(*array.Float64Builder).Append(d.P[i])
		for j, v := range d.X[i] {
			b.Field(4 + j).(*array.Float64Builder).Append(v)
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	return arrowio.Encode(schema, mem, rec)
}

// DecodeFolds rebuilds Data from its stored folds, fold 0 first, as
// EncodeFold wrote them; Logged is set if the folds were logged.
func DecodeFolds(folds [][]byte, arms, features []string, mem memory.Allocator) (*Data, error) {
	d := &Data{Arms: arms, Features: features, Folds: len(folds)}
	schema := DataSchema(features)
	for k, data := range folds {
		err := arrowio.Each(data, schema, mem, func(rec arrow.Record) error {
			ids := rec.Column(0).(*array.String)
			arm := rec.Column(1).(*array.Int32)
			y := rec.Column(2).(*array.Float64)
			p := rec.Column(3).(*array.Float64)
			if md := rec.Schema().Metadata(); md.FindKey(loggedKey) >= 0 {
				d.Logged = md.Values()[md.FindKey(loggedKey)] == "true"
			}
			for i := range int(rec.NumRows()) {
				a := int(arm.Value(i))
				if a < 0 || a >= len(arms) {
					return fmt.Errorf("row %d: arm %d of %d", i, a, len(arms))
				}
				x := make([]float64, len(features))
				for j := range x {
					x[j] = rec.Column(4 + j).(*array.Float64).Value(i)
				}
				d.IDs = append(d.IDs, string([]byte(ids.Value(i))))
				d.A = append(d.A, a)
				d.Y = append(d.Y, y.Value(i))
				d.P = append(d.P, p.Value(i))
				d.X = append(d.X, x)
				d.Fold = append(d.Fold, k)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("fold %d: %w", k, err)
		}
	}
	return d, nil
}

// PredictionSchema is the Arrow schema of one fold's predictions: mu_<a>
// for every arm, then tau_<learner>_<a> for every learner and arm beyond
// control (arm indices).
func PredictionSchema(arms int, learners []string) *arrow.Schema {
	var fields []arrow.Field
	for a := range arms {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("mu_%d", a), Type: arrow.PrimitiveTypes.Float64})
	}
	for _, l := range learners {
		for a := 1; a < arms; a++ {
			fields = append(fields, arrow.Field{Name: fmt.Sprintf("tau_%s_%d", l, a), Type: arrow.PrimitiveTypes.Float64})
		}
	}
	return arrow.NewSchema(fields, nil)
}

// EncodePredictions encodes a fold's predictions as an Arrow IPC file.
func EncodePredictions(r *FoldResult, arms int, learners []string, mem memory.Allocator) ([]byte, error) {
	schema := PredictionSchema(arms, learners)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for j, mu := range r.Mu {
		c := 0
		for _, v := range mu {
			b.Field(c).(*array.Float64Builder).Append(v)
			c++
		}
		for _, l := range learners {
			for _, v := range r.Tau[l][j] {
				b.Field(c).(*array.Float64Builder).Append(v)
				c++
			}
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	return arrowio.Encode(schema, mem, rec)
}

// DecodePredictions reads a fold's predictions written by
// EncodePredictions.
func DecodePredictions(data []byte, arms int, learners []string, mem memory.Allocator) (*FoldResult, error) {
	r := &FoldResult{Tau: map[string][][]float64{}}
	err := arrowio.Each(data, PredictionSchema(arms, learners), mem, func(rec arrow.Record) error {
		col := func(c, i int) float64 { return rec.Column(c).(*array.Float64).Value(i) }
		for i := range int(rec.NumRows()) {
			mu := make([]float64, arms)
			for a := range mu {
				mu[a] = col(a, i)
			}
			r.Mu = append(r.Mu, mu)
			c := arms
			for _, l := range learners {
				t := make([]float64, arms-1)
				for a := range t {
					t[a] = col(c, i)
					c++
				}
				r.Tau[l] = append(r.Tau[l], t)
			}
		}
		return nil
	})
	return r, err
}
