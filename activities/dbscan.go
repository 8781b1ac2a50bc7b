package activities

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"strconv"

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
	pts, err := a.loadSubsample(ctx, in.SampleKeys, in.Scaler, in.MaxPoints, fmt.Sprintf("%d/dbscan", in.Seed))
	if err != nil {
		return DBSCANFitOutput{}, err
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
	Top    int    // farthest outliers to keep
}

// DBSCANAssignOutput is the block's share of the cluster profiles: raw
// feature sums per cluster, the outliers last (index Clusters), and where
// its farthest outliers are (their rows stay in the bucket).
type DBSCANAssignOutput struct {
	Sums        segment.Sums
	FarthestKey string
}

// DBSCANAssign writes every user's dense cluster (the cluster of the
// nearest core point of the model within eps, else an outlier), one
// object per shard, sums their raw features per cluster, and stores the
// block's Top farthest outliers (layout.DenseFarthest).
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
	out := DBSCANAssignOutput{Sums: segment.NewSums(m.Clusters + 1), FarthestKey: layout.DenseFarthest(in.RunID, in.Block.From)}
	var farthest []farOutlier
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
					farthest = append(farthest, farOutlier{id: r.UserID, d: d, raw: r.Values})
				}
			} else {
				out.Sums.Add(l, r.Values)
			}
		}
		farthest = keepFarthest(farthest, in.Top)
		rec := denseRecord(ids, labels, dist, a)
		err = a.writeArrow(ctx, layout.DenseClusters(in.RunID, i), DenseSchema, rec)
		rec.Release()
		if err != nil {
			return DBSCANAssignOutput{}, fmt.Errorf("shard %d: %w", i, err)
		}
	}
	return out, a.Store.Put(ctx, out.FarthestKey, farthestCSV(farthest))
}

// farOutlier is one outlier with its distance and raw features.
type farOutlier struct {
	id  string
	d   float64
	raw []float64
}

// keepFarthest returns the top farthest of fs, farthest first; the sort is
// stable, so equal distances keep their order (shards, then blocks).
func keepFarthest(fs []farOutlier, top int) []farOutlier {
	slices.SortStableFunc(fs, func(p, q farOutlier) int { return cmpDesc(p.d, q.d) })
	return fs[:min(top, len(fs))]
}

// farthestCSV encodes outliers as layout.DenseFarthest's CSV.
func farthestCSV(fs []farOutlier) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(append([]string{"user_id", "core_distance"}, features.Behaviour...))
	for _, f := range fs {
		rec := []string{f.id, strconv.FormatFloat(f.d, 'g', -1, 64)}
		for j := range features.Behaviour {
			rec = append(rec, strconv.FormatFloat(f.raw[j], 'g', -1, 64))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

// parseFarthest decodes farthestCSV's output.
func parseFarthest(data []byte) ([]farOutlier, error) {
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || len(recs[0]) != 2+len(features.Behaviour) {
		return nil, fmt.Errorf("farthest outliers: header %v", recs)
	}
	var out []farOutlier
	for _, r := range recs[1:] {
		f := farOutlier{id: r[0], raw: make([]float64, len(features.Behaviour))}
		if f.d, err = strconv.ParseFloat(r[1], 64); err != nil {
			return nil, err
		}
		for j := range f.raw {
			if f.raw[j], err = strconv.ParseFloat(r[2+j], 64); err != nil {
				return nil, err
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// DBSCANOutliersInput merges the blocks' farthest outliers.
type DBSCANOutliersInput struct {
	RunID string
	Keys  []string // DBSCANAssignOutput.FarthestKey of every block, in shard order
	Top   int
}

// DBSCANOutliersOutput says where the run's farthest outliers are and
// what they are in aggregate: their distances, farthest first, and their
// mean behaviour (no user's row in the payload).
type DBSCANOutliersOutput struct {
	Key       string
	URL       string
	Distances []float64
	Mean      map[string]float64
}

// DBSCANOutliers keeps the Top farthest of the blocks' farthest outliers
// and writes them, ids included, to layout.DenseOutliers.
func (a *Activities) DBSCANOutliers(ctx context.Context, in DBSCANOutliersInput) (_ DBSCANOutliersOutput, err error) {
	defer final(&err)
	var all []farOutlier
	for _, key := range in.Keys {
		data, err := a.Store.Get(ctx, key)
		if err != nil {
			return DBSCANOutliersOutput{}, err
		}
		fs, err := parseFarthest(data)
		if err != nil {
			return DBSCANOutliersOutput{}, &corruptError{key: key, err: err}
		}
		all = append(all, fs...)
	}
	all = keepFarthest(all, in.Top)
	out := DBSCANOutliersOutput{Key: layout.DenseOutliers(in.RunID), Mean: map[string]float64{}}
	for _, f := range all {
		out.Distances = append(out.Distances, f.d)
		for j, name := range features.Behaviour {
			out.Mean[name] += f.raw[j] / float64(len(all))
		}
	}
	if err := a.Store.Put(ctx, out.Key, farthestCSV(all)); err != nil {
		return DBSCANOutliersOutput{}, err
	}
	out.URL = a.Store.URL(out.Key)
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
