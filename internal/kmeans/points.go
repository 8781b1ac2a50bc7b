package kmeans

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Point is a k-means|| candidate as stored between rounds: the point, the
// id it came from, and the squared distance and uniform draw that decided
// its selection (see Keep).
type Point struct {
	ID    string
	Dist2 float64
	U     float64
	X     []float64
}

// PointsSchema stores candidate points: id, dist2, u and the coordinates.
var PointsSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.BinaryTypes.String},
	{Name: "dist2", Type: arrow.PrimitiveTypes.Float64},
	{Name: "u", Type: arrow.PrimitiveTypes.Float64},
	{Name: "x", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)},
}, nil)

// PointsRecord encodes points as a record of PointsSchema. The caller must
// Release it.
func PointsRecord(points []Point, mem memory.Allocator) arrow.Record {
	b := array.NewRecordBuilder(mem, PointsSchema)
	defer b.Release()
	lb := b.Field(3).(*array.ListBuilder)
	vb := lb.ValueBuilder().(*array.Float64Builder)
	for _, p := range points {
		b.Field(0).(*array.StringBuilder).Append(p.ID)
		b.Field(1).(*array.Float64Builder).Append(p.Dist2)
		b.Field(2).(*array.Float64Builder).Append(p.U)
		lb.Append(true)
		vb.AppendValues(p.X, nil)
	}
	return b.NewRecord()
}

// ReadPoints decodes a record of PointsSchema and appends its points.
func ReadPoints(rec arrow.Record, dst []Point) ([]Point, error) {
	if !rec.Schema().Equal(PointsSchema) {
		return dst, fmt.Errorf("points record: schema %v, want %v", rec.Schema(), PointsSchema)
	}
	ids := rec.Column(0).(*array.String)
	d2 := rec.Column(1).(*array.Float64)
	u := rec.Column(2).(*array.Float64)
	l := rec.Column(3).(*array.List)
	vals := l.ListValues().(*array.Float64)
	off := l.Offsets()
	for i := 0; i < int(rec.NumRows()); i++ {
		x := make([]float64, off[i+1]-off[i])
		for j := range x {
			x[j] = vals.Value(int(off[i]) + j)
		}
		dst = append(dst, Point{ID: string([]byte(ids.Value(i))), Dist2: d2.Value(i), U: u.Value(i), X: x})
	}
	return dst, nil
}
