package activities

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/promoflow/promoflow/internal/dbscan"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/segment"
	"github.com/promoflow/promoflow/internal/shard"
)

// DenseSchema is a shard's density clusters (layout.DenseClusters): every
// user's dense cluster, dbscan.Noise for an outlier, and the distance in
// standardized units to the nearest core point of the sample.
var DenseSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user_id", Type: arrow.BinaryTypes.String},
	{Name: "dense_cluster", Type: arrow.PrimitiveTypes.Int32},
	{Name: "core_distance", Type: arrow.PrimitiveTypes.Float64},
}, nil)

// DBSCANFitInput clusters the run's feature sample.
type DBSCANFitInput struct {
	RunID      string
	SampleKeys []string // the features stage's seeded sample (layout.Sample)
	Scaler     features.Scaler
	Eps        float64 // 0: the knee of the sample's MinPts-distances (dbscan.ChooseEps)
	MinPts     int     // 0: dbscan.DefaultMinPts of the scaler's dimensions
	TailCut    float64 // share of the k-distance curve's top left out of the knee search
	MaxPoints  int     // at most this many sampled users (seeded); 0: all
	Seed       int64
}

// DBSCANFitOutput is the model's key and shape: counts only.
type DBSCANFitOutput struct {
	Key         string // "" when the sample has fewer than MinPts users: no model
	Eps         float64
	MinPts      int
	Points      int // sampled users clustered
	Cores       int
	Clusters    int
	SampleNoise int // sampled users DBSCAN left as noise
}

// DBSCANFit runs DBSCAN on the standardized features of the run's seeded
// sample (about features' SampleSize users, whatever the number of users:
// the cost is bounded) and stores its core points as the model every
// shard's users are assigned with (DBSCANAssign).
func (a *Activities) DBSCANFit(ctx context.Context, in DBSCANFitInput) (_ DBSCANFitOutput, err error) {
	defer final(&err)
	var ids []string
	var pts [][]float64
	for _, key := range in.SampleKeys {
		i, p, err := a.loadScaled(ctx, key, in.Scaler)
		if err != nil {
			return DBSCANFitOutput{}, err
		}
		ids, pts = append(ids, i...), append(pts, p...)
	}
	if in.MaxPoints > 0 && len(pts) > in.MaxPoints {
		rate := float64(in.MaxPoints) / float64(len(pts))
		salt := fmt.Sprintf("%d/dbscan", in.Seed)
		var sub [][]float64
		for i, id := range ids {
			if shard.Unit(salt, id) < rate {
				sub = append(sub, pts[i])
			}
		}
		pts = sub
	}
	minPts := in.MinPts
	if minPts <= 0 {
		minPts = dbscan.DefaultMinPts(in.Scaler.Dim())
	}
	if len(pts) < minPts {
		// Too few users to be dense anywhere: no model, and the workflow
		// skips the step rather than call everyone an outlier.
		return DBSCANFitOutput{MinPts: minPts, Points: len(pts)}, nil
	}
	eps := in.Eps
	if eps <= 0 {
		eps = dbscan.ChooseEps(pts, minPts, in.TailCut)
	}
	m, res := dbscan.Fit(pts, eps, minPts)
	data, err := m.Encode()
	if err != nil {
		return DBSCANFitOutput{}, err
	}
	out := DBSCANFitOutput{
		Key: layout.DBSCANModel(in.RunID), Eps: eps, MinPts: minPts, Points: len(pts),
		Cores: len(m.Labels), Clusters: m.Clusters,
	}
	for _, l := range res.Labels {
		if l == dbscan.Noise {
			out.SampleNoise++
		}
	}
	return out, a.Store.Put(ctx, out.Key, data)
}

// DBSCANAssignInput assigns a block of shards' users to the dense
// clusters.
type DBSCANAssignInput struct {
	RunID  string
	Block  shard.Block
	Scaler features.Scaler
	Model  string // DBSCANFitOutput.Key
	Top    int    // farthest outliers to return
}

// Outlier is one of the farthest outliers, without its id: how far it is
// from any dense region (standardized units) and its behaviour.
type Outlier struct {
	Distance float64            `json:"distance"`
	Profile  map[string]float64 `json:"profile"`
}

// DBSCANAssignOutput is the block's share of the cluster profiles: raw
// feature sums per cluster, the outliers last (index Clusters), and its
// farthest outliers, farthest first.
type DBSCANAssignOutput struct {
	Sums     segment.Sums
	Farthest []Outlier
}

// DBSCANAssign writes every user's dense cluster (the cluster of the
// nearest core point of the model within eps, else an outlier), one
// object per shard, and sums their raw features per cluster.
func (a *Activities) DBSCANAssign(ctx context.Context, in DBSCANAssignInput) (_ DBSCANAssignOutput, err error) {
	defer final(&err)
	data, err := a.Store.Get(ctx, in.Model)
	if err != nil {
		return DBSCANAssignOutput{}, err
	}
	m, err := dbscan.Decode(data)
	if err != nil {
		return DBSCANAssignOutput{}, &corruptError{key: in.Model, err: err}
	}
	out := DBSCANAssignOutput{Sums: segment.NewSums(m.Clusters + 1)}
	type far struct {
		d   float64
		raw []float64
	}
	var farthest []far
	x := make([]float64, in.Scaler.Dim())
	for i := in.Block.From; i < in.Block.To; i++ {
		rows, err := a.readFeatures(ctx, layout.Features(in.RunID, i), features.Schema)
		if err != nil {
			return DBSCANAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
		ids := make([]string, len(rows))
		labels := make([]int32, len(rows))
		dist := make([]float64, len(rows))
		for j, r := range rows {
			l, d := m.Assign(in.Scaler.ApplyTo(r.Values, x))
			ids[j], labels[j], dist[j] = r.UserID, int32(l), d
			if l == dbscan.Noise {
				out.Sums.Add(m.Clusters, r.Values)
				if in.Top > 0 && !math.IsInf(d, 0) { // +Inf: a model without cores
					farthest = append(farthest, far{d, r.Values})
				}
			} else {
				out.Sums.Add(l, r.Values)
			}
		}
		if len(farthest) > in.Top {
			// Stable: equal distances keep shard order, so the choice is
			// deterministic.
			slices.SortStableFunc(farthest, func(p, q far) int { return cmpDesc(p.d, q.d) })
			farthest = farthest[:in.Top]
		}
		rec := denseRecord(ids, labels, dist, a)
		err = a.writeArrow(ctx, layout.DenseClusters(in.RunID, i), DenseSchema, rec)
		rec.Release()
		if err != nil {
			return DBSCANAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	slices.SortStableFunc(farthest, func(p, q far) int { return cmpDesc(p.d, q.d) })
	for _, f := range farthest {
		out.Farthest = append(out.Farthest, Outlier{Distance: f.d, Profile: behaviour(f.raw)})
	}
	return out, nil
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// behaviour is a raw row's behaviour features by name.
func behaviour(raw []float64) map[string]float64 {
	out := make(map[string]float64, len(features.Behaviour))
	for j, name := range features.Behaviour {
		out[name] = raw[j]
	}
	return out
}

func denseRecord(ids []string, labels []int32, dist []float64, a *Activities) arrow.Record {
	b := array.NewRecordBuilder(a.mem(), DenseSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(ids, nil)
	b.Field(1).(*array.Int32Builder).AppendValues(labels, nil)
	b.Field(2).(*array.Float64Builder).AppendValues(dist, nil)
	return b.NewRecord()
}

// outliersOf reads shard i's outliers (DBSCANAssign's object) and calls fn
// with each one's id.
func (a *Activities) outliersOf(ctx context.Context, run string, i int, fn func(id string)) error {
	return a.readArrow(ctx, layout.DenseClusters(run, i), DenseSchema, func(rec arrow.Record) error {
		ids := rec.Column(0).(*array.String)
		labels := rec.Column(1).(*array.Int32)
		for r := range int(rec.NumRows()) {
			if labels.Value(r) == dbscan.Noise {
				fn(string([]byte(ids.Value(r))))
			}
		}
		return nil
	})
}
