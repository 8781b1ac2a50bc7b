package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/uplift"
)

// UpliftPrepareInput names a campaign history in the bucket and how to
// read it.
type UpliftPrepareInput struct {
	RunID      string
	HistoryKey string
	Spec       uplift.Spec
	Folds      int
	Seed       int64
}

// UpliftPrepareOutput describes the encoded history.
type UpliftPrepareOutput struct {
	Info      uplift.Info
	FoldRows  []int    // rows per fold
	FoldKeys  []string // layout.UpliftFold per fold
	ArmCounts []int    // rows per arm, in Info.Arms order
}

// UpliftPrepare reads a history CSV, encodes it (categorical columns
// one-hot, missing values as NaN), assigns users to folds by a hash of
// their id, and stores one Arrow object per fold.
func (a *Activities) UpliftPrepare(ctx context.Context, in UpliftPrepareInput) (_ UpliftPrepareOutput, err error) {
	defer final(&err)
	data, err := a.Store.Get(ctx, in.HistoryKey)
	if err != nil {
		return UpliftPrepareOutput{}, err
	}
	t, err := uplift.ReadTable(bytes.NewReader(data))
	if err != nil {
		return UpliftPrepareOutput{}, badHistory(in.HistoryKey, err)
	}
	d, info, err := uplift.Prepare(t, in.Spec, in.Folds, in.Seed)
	if err != nil {
		return UpliftPrepareOutput{}, badHistory(in.HistoryKey, err)
	}
	out := UpliftPrepareOutput{Info: info, ArmCounts: make([]int, len(d.Arms))}
	for _, arm := range d.A {
		out.ArmCounts[arm]++
	}
	for k := range in.Folds {
		obj, err := uplift.EncodeFold(d, k, a.mem())
		if err != nil {
			return UpliftPrepareOutput{}, err
		}
		key := layout.UpliftFold(in.RunID, k)
		if err := a.Store.Put(ctx, key, obj); err != nil {
			return UpliftPrepareOutput{}, err
		}
		out.FoldKeys = append(out.FoldKeys, key)
		out.FoldRows = append(out.FoldRows, len(d.FoldRows(k)))
	}
	return out, nil
}

// badHistory marks a history that cannot be read as configured: retrying
// will not help.
func badHistory(key string, err error) error {
	return &corruptError{key: key, err: err}
}

// UpliftFoldInput cross-fits one fold.
type UpliftFoldInput struct {
	RunID    string
	Fold     int
	FoldKeys []string
	Arms     []string
	Features []string
	Config   uplift.Config
}

// UpliftFoldOutput says where the fold's predictions are.
type UpliftFoldOutput struct {
	Key  string
	Rows int
}

// UpliftFold reads every fold, cross-fits fold in.Fold (outcome models and
// every learner fit on the other folds) and stores its predictions.
func (a *Activities) UpliftFold(ctx context.Context, in UpliftFoldInput) (_ UpliftFoldOutput, err error) {
	defer final(&err)
	d, err := a.upliftData(ctx, in.FoldKeys, in.Arms, in.Features)
	if err != nil {
		return UpliftFoldOutput{}, err
	}
	m, err := uplift.Matrix(d)
	if err != nil {
		return UpliftFoldOutput{}, err
	}
	r, err := uplift.Fold(d, m, in.Fold, in.Config)
	if err != nil {
		return UpliftFoldOutput{}, err
	}
	cfg := in.Config.WithDefaults()
	obj, err := uplift.EncodePredictions(r, len(in.Arms), cfg.Learners, a.mem())
	if err != nil {
		return UpliftFoldOutput{}, err
	}
	out := UpliftFoldOutput{Key: layout.UpliftPredictions(in.RunID, in.Fold), Rows: len(r.Mu)}
	return out, a.Store.Put(ctx, out.Key, obj)
}

func (a *Activities) upliftData(ctx context.Context, keys, arms, features []string) (*uplift.Data, error) {
	parts := make([][]byte, len(keys))
	for k, key := range keys {
		data, err := a.Store.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		parts[k] = data
	}
	d, err := uplift.DecodeFolds(parts, arms, features, a.mem())
	if err != nil {
		return nil, &corruptError{key: keys[0], err: err}
	}
	return d, nil
}

// upliftPredictions reads the folds' out-of-fold predictions (UpliftFold),
// fold 0 first.
func (a *Activities) upliftPredictions(ctx context.Context, keys []string, arms int, learners []string) ([]*uplift.FoldResult, error) {
	folds := make([]*uplift.FoldResult, len(keys))
	for k, key := range keys {
		data, err := a.Store.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		if folds[k], err = uplift.DecodePredictions(data, arms, learners, a.mem()); err != nil {
			return nil, &corruptError{key: key, err: err}
		}
	}
	return folds, nil
}

// UpliftEvaluateInput evaluates the folds' predictions.
type UpliftEvaluateInput struct {
	RunID          string
	FoldKeys       []string
	PredictionKeys []string
	Arms           []string
	Features       []string
	Config         uplift.Config
	PolicyBudget   float64 // budget of the policy written to policy.csv
}

// UpliftEvaluateOutput is the report and where it and the policy are.
type UpliftEvaluateOutput struct {
	Report    uplift.Report
	ReportKey string
	PolicyKey string
}

// UpliftEvaluate gathers every fold's predictions, evaluates the learners
// and the chosen learner's policy, and writes the report (JSON) and the
// per-user policy (CSV).
func (a *Activities) UpliftEvaluate(ctx context.Context, in UpliftEvaluateInput) (_ UpliftEvaluateOutput, err error) {
	defer final(&err)
	d, err := a.upliftData(ctx, in.FoldKeys, in.Arms, in.Features)
	if err != nil {
		return UpliftEvaluateOutput{}, err
	}
	cfg := in.Config.WithDefaults()
	folds, err := a.upliftPredictions(ctx, in.PredictionKeys, len(in.Arms), cfg.Learners)
	if err != nil {
		return UpliftEvaluateOutput{}, err
	}
	res, err := uplift.Combine(d, folds, cfg)
	if err != nil {
		return UpliftEvaluateOutput{}, err
	}
	out := UpliftEvaluateOutput{Report: *res.Report, ReportKey: layout.UpliftReport(in.RunID), PolicyKey: layout.UpliftPolicy(in.RunID)}
	var buf bytes.Buffer
	if err := uplift.WritePolicy(&buf, d, res.Tau[res.Report.Chosen], in.PolicyBudget, cfg); err != nil {
		return UpliftEvaluateOutput{}, err
	}
	if err := a.Store.Put(ctx, out.PolicyKey, buf.Bytes()); err != nil {
		return UpliftEvaluateOutput{}, err
	}
	report, err := json.MarshalIndent(res.Report, "", "  ")
	if err != nil {
		return UpliftEvaluateOutput{}, fmt.Errorf("report: %w", err)
	}
	return out, a.Store.Put(ctx, out.ReportKey, report)
}
