package activities

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promoflow/promoflow/internal/canon"
	"github.com/promoflow/promoflow/internal/features"
	"github.com/promoflow/promoflow/internal/history"
	"github.com/promoflow/promoflow/internal/layout"
	"github.com/promoflow/promoflow/internal/strategy"
	"github.com/promoflow/promoflow/internal/uplift"
)

// DecideHistoryInput names the template whose campaign history the
// decision learns from.
type DecideHistoryInput struct {
	RunID    string
	Template string
	Campaign string // the campaign being decided: never its own history
	// Campaigns is how many of the template's newest evaluated campaigns
	// to read (by window start).
	Campaigns int
	// Shards is the run's shard count; RunTable says the run ingested a
	// history table of its own (a mapped --history file), whose rows join
	// to this run's features.
	Shards   int
	RunTable bool
	Offers   []string // the offers that may get a model; other arms are counted, not used
	Folds    int
	Seed     int64
}

// DecideHistoryOutput is the encoded history, ready for cross-fitting as
// UpliftPrepareOutput, plus what was read. Info.Rows is 0 when there is
// nothing to learn from (Reason says why).
type DecideHistoryOutput struct {
	UpliftPrepareOutput
	Uplift strategy.UpliftInfo
}

// DecideHistory reads the template's newest evaluated campaigns
// (history/<template>/*.parquet, internal/history) and the run's own
// history table, joins every row to the user's features as of the decision
// that assigned it (runs/<run_id>/features/: the features of the run that
// decided the campaign, so no later behaviour leaks in; rows without a
// run_id join to this run's features), and stores the rows of the arms
// with enough data as an uplift analysis's folds (layout.UpliftFold), with
// the logged assignment probabilities as propensities.
func (a *Activities) DecideHistory(ctx context.Context, in DecideHistoryInput) (_ DecideHistoryOutput, err error) {
	defer final(&err)
	out := DecideHistoryOutput{Uplift: strategy.UpliftInfo{Arms: map[string]int64{}}}
	rows, campaigns, err := a.templateHistory(ctx, in.Template, in.Campaign, in.Campaigns)
	if err != nil {
		return out, err
	}
	if in.RunTable {
		for i := range in.Shards {
			err := a.eachTableRow(ctx, layout.TableDir(in.RunID, canon.HistoryName, i, in.Shards), canon.HistoryTable, func(v []canon.Value) {
				r := history.RowOf(v)
				if r.RunID == "" {
					r.RunID = in.RunID
				}
				rows = append(rows, r)
			})
			if err != nil {
				return out, fmt.Errorf("shard %d: %w", i, err)
			}
		}
	}
	out.Uplift.HistoryRows, out.Uplift.Campaigns = int64(len(rows)), campaigns
	// Join each row to its decision's features, one run at a time, keeping
	// only the users the history needs.
	byRun := map[string][]int{}
	for i, r := range rows {
		byRun[r.RunID] = append(byRun[r.RunID], i)
	}
	runs := make([]string, 0, len(byRun))
	for r := range byRun {
		runs = append(runs, r)
	}
	slices.Sort(runs)
	x := make([][]float64, len(rows))
	for _, run := range runs {
		want := map[string][]int{}
		for _, i := range byRun[run] {
			want[rows[i].UserID] = append(want[rows[i].UserID], i)
		}
		keys, err := a.Store.List(ctx, layout.FeaturesDir(run))
		if err != nil {
			return out, err
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !strings.HasSuffix(k, ".arrow") {
				continue
			}
			feats, err := a.readFeatures(ctx, k, features.Schema)
			if err != nil {
				return out, fmt.Errorf("run %s: %w", run, err)
			}
			for _, f := range feats {
				for _, i := range want[f.UserID] {
					x[i] = f.Values
				}
			}
		}
	}
	// Arms: control first, then the template's offers with enough rows;
	// and what a first order is worth.
	aov := indexOf(features.Names, "avg_order_value")
	counts := map[string]int{}
	var newRevenue float64
	for i, r := range rows {
		if x[i] != nil {
			counts[r.Arm]++
			out.Uplift.Arms[r.Arm]++
			out.Uplift.Joined++
			if x[i][aov] <= 0 && r.Conversions > 0 {
				out.Uplift.NewBuyerOrders += r.Conversions
				newRevenue += r.Revenue
			}
		}
	}
	if out.Uplift.NewBuyerOrders >= strategy.MinArmRows {
		out.Uplift.NewBuyerBasket = newRevenue / float64(out.Uplift.NewBuyerOrders)
	}
	arms := []string{history.ControlArm}
	for _, o := range in.Offers {
		if counts[o] >= strategy.MinArmRows {
			arms = append(arms, o)
		}
	}
	switch {
	case len(rows) == 0:
		out.Uplift.Reason = "no campaign history yet"
		return out, nil
	case counts[history.ControlArm] < strategy.MinArmRows:
		out.Uplift.Reason = fmt.Sprintf("too little history: %d control rows, want %d", counts[history.ControlArm], strategy.MinArmRows)
		return out, nil
	case len(arms) < 2:
		out.Uplift.Reason = fmt.Sprintf("too little history: no offer with %d joined rows", strategy.MinArmRows)
		return out, nil
	}
	armOf := map[string]int{}
	for i, arm := range arms {
		armOf[arm] = i
	}
	var ids []string
	var xs [][]float64
	var as []int
	var ys, ps []float64
	for i, r := range rows {
		k, ok := armOf[r.Arm]
		if !ok || x[i] == nil {
			continue
		}
		ids = append(ids, r.UserID+"/"+r.Campaign)
		xs = append(xs, x[i])
		as = append(as, k)
		y := 0.0
		if r.Responded {
			y = 1
		}
		ys = append(ys, y)
		ps = append(ps, r.Probability)
	}
	d, err := uplift.NewData(ids, arms, features.Names, xs, as, ys, ps, in.Folds, in.Seed)
	if err != nil {
		return out, &corruptError{key: layout.HistoryDir(in.Template), err: err}
	}
	prep := UpliftPrepareOutput{Info: uplift.Info{Rows: d.Rows(), Arms: arms, Features: d.Features, Binary: true}, ArmCounts: make([]int, len(arms))}
	for _, k := range d.A {
		prep.ArmCounts[k]++
	}
	for k := range in.Folds {
		obj, err := uplift.EncodeFold(d, k, a.mem())
		if err != nil {
			return out, err
		}
		key := layout.UpliftFold(in.RunID, k)
		if err := a.Store.Put(ctx, key, obj); err != nil {
			return out, err
		}
		prep.FoldKeys = append(prep.FoldKeys, key)
		prep.FoldRows = append(prep.FoldRows, len(d.FoldRows(k)))
	}
	out.UpliftPrepareOutput = prep
	return out, nil
}

// templateHistory reads the newest n evaluated campaigns of template
// (excluding campaign itself), by window start then name, and returns
// their rows and how many campaigns they came from.
func (a *Activities) templateHistory(ctx context.Context, template, campaign string, n int) ([]history.Row, int, error) {
	keys, err := a.Store.List(ctx, layout.HistoryDir(template))
	if err != nil {
		return nil, 0, err
	}
	type part struct {
		key   string
		start time.Time
		rows  []history.Row
	}
	var parts []part
	for _, k := range keys {
		if !strings.HasSuffix(k, ".parquet") || k == layout.History(template, campaign) {
			continue
		}
		data, err := a.Store.Get(ctx, k)
		if err != nil {
			return nil, 0, err
		}
		rows, err := history.Read(data, a.mem())
		if err != nil {
			return nil, 0, &corruptError{key: k, err: err}
		}
		p := part{key: k, rows: rows}
		if len(rows) > 0 {
			p.start = rows[0].WindowStart
		}
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(x, y part) int { return cmp.Or(y.start.Compare(x.start), strings.Compare(y.key, x.key)) })
	if len(parts) > n {
		parts = parts[:n]
	}
	var rows []history.Row
	for i := len(parts) - 1; i >= 0; i-- { // oldest first
		rows = append(rows, parts[i].rows...)
	}
	return rows, len(parts), nil
}

// DecideTrainUpliftInput fits the learner the cross-fitting chose on every
// row of the history.
type DecideTrainUpliftInput struct {
	RunID    string
	FoldKeys []string
	// PredictionKeys are the cross-fitting's out-of-fold predictions
	// (UpliftFold): their outcome predictions are the X- and DR-learners'
	// training targets, so Fit need not compute them again.
	PredictionKeys []string
	Arms           []string
	Features       []string
	Learner        string
	Config         uplift.Config
}

// DecideTrainUpliftOutput says where the models are.
type DecideTrainUpliftOutput struct {
	Key string
}

// DecideTrainUplift fits the chosen learner on all the history's rows
// (uplift.FitWith, reusing the cross-fitting's outcome predictions) and
// stores the model for DecideScore.
func (a *Activities) DecideTrainUplift(ctx context.Context, in DecideTrainUpliftInput) (_ DecideTrainUpliftOutput, err error) {
	defer final(&err)
	d, err := a.upliftData(ctx, in.FoldKeys, in.Arms, in.Features)
	if err != nil {
		return DecideTrainUpliftOutput{}, err
	}
	m, err := uplift.Matrix(d)
	if err != nil {
		return DecideTrainUpliftOutput{}, err
	}
	var mu [][]float64
	if len(in.PredictionKeys) > 0 {
		folds, err := a.upliftPredictions(ctx, in.PredictionKeys, len(in.Arms), in.Config.WithDefaults().Learners)
		if err != nil {
			return DecideTrainUpliftOutput{}, err
		}
		perFold := make([][][]float64, len(folds))
		for k, f := range folds {
			perFold[k] = f.Mu
		}
		if mu, err = uplift.Gather(d, perFold); err != nil {
			return DecideTrainUpliftOutput{}, err
		}
	}
	model, err := uplift.FitWith(d, m, in.Learner, in.Config, mu)
	if err != nil {
		return DecideTrainUpliftOutput{}, err
	}
	data, err := json.Marshal(model)
	if err != nil {
		return DecideTrainUpliftOutput{}, err
	}
	key := layout.UpliftModel(in.RunID)
	return DecideTrainUpliftOutput{Key: key}, a.Store.Put(ctx, key, data)
}
