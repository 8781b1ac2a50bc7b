// Package forest grows histogram random forests: CART trees for binary
// classification (Gini or entropy) and regression (variance).
//
// Features are first reduced to at most MaxBins quantile bins (Bins), which
// may come from mergeable per-shard quantile sketches (Sketch) so that trees
// grown on different shards split on the same global candidates. Trees are
// grown from a binned Matrix, but store real-valued thresholds, so a Forest
// predicts raw feature rows and needs no bins.
//
// Trees are stored as flat node arrays so a Forest is plain data: it can be
// saved as JSON (the versioned encoding is described at Save), shipped
// between processes and merged with forests grown on other data shards.
// Training is deterministic for a given Params.Seed, whatever the number of
// goroutines growing trees.
//
// Missing values are NaN. Each split node records the side that missing
// values take (Node.MissingLeft), chosen during training by whichever side
// gives the larger impurity decrease.
package forest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
)

// Version is the Forest encoding written by Save. Load also reads version
// 1 (classification forests written before regression existed).
const Version = 2

// Task is what a forest predicts.
type Task string

// Tasks.
const (
	// Classification forests predict P(y=1): leaf values are weighted
	// shares of positive rows, in [0, 1].
	Classification Task = "classification"
	// Regression forests predict the mean label.
	Regression Task = "regression"
)

// OOB is an out-of-bag estimate: every training row scored by the trees
// whose sample left it out.
type OOB struct {
	N       int     `json:"n"`                 // rows out of at least one tree's sample
	AUC     float64 `json:"auc,omitempty"`     // classification
	LogLoss float64 `json:"logloss,omitempty"` // classification, mean per row
	MSE     float64 `json:"mse,omitempty"`     // regression
	R2      float64 `json:"r2,omitempty"`      // regression
}

// Node is one node of a Tree. A leaf has Feature == -1 and no children; a
// split node sends a row to Left when row[Feature] <= Threshold, to Right when
// it is greater, and a missing (NaN) value to Left if MissingLeft is set.
type Node struct {
	// Feature is the column index the node splits on, or -1 at a leaf.
	Feature int `json:"f"`
	// Threshold is the split point: values <= Threshold go left.
	Threshold float64 `json:"t,omitempty"`
	// Left and Right are the indices of the children in Tree.Nodes; they
	// are always greater than the node's own index. Zero at a leaf.
	Left  int `json:"l,omitempty"`
	Right int `json:"r,omitempty"`
	// MissingLeft routes NaN values to Left (else to Right).
	MissingLeft bool `json:"ml,omitempty"`
	// Value is the training estimate at the node: the weighted share of
	// positive rows (classification) or the weighted mean label
	// (regression). At a leaf it is the tree's prediction.
	Value float64 `json:"v"`
	// Gain is the impurity decrease of the split per unit of the node's
	// weight: the node's impurity minus the weight-averaged impurity of its
	// children. Zero at a leaf.
	Gain float64 `json:"g,omitempty"`
	// N is the number of distinct sample rows that reached the node.
	N int `json:"n"`
	// W is their weight: bootstrap multiplicity times class weight times
	// row weight (Params.Weights). Zero in version-1 forests, where N
	// counted duplicates and stands in for it, and at a root whose sample
	// weighs nothing.
	W float64 `json:"w,omitempty"`
}

// weight returns W, or N for version-1 nodes.
func (n *Node) weight() float64 {
	if n.W > 0 {
		return n.W
	}
	return float64(n.N)
}

// IsLeaf reports whether the node is a leaf.
func (n *Node) IsLeaf() bool { return n.Feature < 0 }

// Tree is a decision tree stored as a flat node array with the root at
// index 0. Children always follow their parent.
type Tree struct {
	Nodes []Node `json:"nodes"`
}

// Predict returns the value of the leaf that row reaches.
func (t *Tree) Predict(row []float64) float64 {
	i := 0
	for {
		nd := &t.Nodes[i]
		if nd.Feature < 0 {
			return nd.Value
		}
		v := row[nd.Feature]
		switch {
		case math.IsNaN(v):
			if nd.MissingLeft {
				i = nd.Left
			} else {
				i = nd.Right
			}
		case v <= nd.Threshold:
			i = nd.Left
		default:
			i = nd.Right
		}
	}
}

// Forest is an ensemble of trees over named features.
type Forest struct {
	Version  int      `json:"version"`
	Task     Task     `json:"task"`
	Features []string `json:"features"`
	Trees    []Tree   `json:"trees"`
	// OOB is the out-of-bag estimate of Fit with Params.OOB; nil otherwise
	// and after Merge.
	OOB *OOB `json:"oob,omitempty"`

	// flat is the compact layout prediction walks (predict.go), built on
	// first use. A forest is not copied by value once it has predicted.
	flat atomic.Pointer[compiled]
}

// Predict returns the mean over trees of the leaf values for row: P(y=1) for
// classification, the predicted label for regression; NaN if the forest has
// no trees. It panics if len(row) differs from the number of features.
//
// The first prediction builds a compact copy of the trees that later ones
// walk; it is rebuilt when Trees is replaced or changes length (Merge), so
// trees and nodes must not be edited in place after a forest has
// predicted. Predict and PredictBatch are safe for concurrent use. To score
// many rows, PredictBatch is faster.
func (f *Forest) Predict(row []float64) float64 {
	if len(row) != len(f.Features) {
		panic(fmt.Sprintf("forest: Predict with %d values, forest has %d features", len(row), len(f.Features)))
	}
	if len(f.Trees) == 0 {
		return math.NaN()
	}
	// The widened row (predict.go) lives on the stack for up to 64
	// features.
	var buf [128]float64
	x := buf[:]
	if 2*len(row) > len(buf) {
		x = make([]float64, 2*len(row))
	}
	return f.compiled().predict(row, x)
}

// Merge appends copies of the trees of others to f, so that f predicts the
// mean over all trees, and drops f's out-of-bag estimate, which no longer
// describes it. It returns an error, leaving f unchanged, if any forest is
// nil or has another task or feature list.
func (f *Forest) Merge(others ...*Forest) error {
	for i, o := range others {
		if o == nil {
			return fmt.Errorf("forest: Merge: forest %d is nil", i)
		}
		if o.task() != f.task() {
			return fmt.Errorf("forest: Merge: forest %d is a %s forest, want %s", i, o.task(), f.task())
		}
		if !slices.Equal(f.Features, o.Features) {
			return fmt.Errorf("forest: Merge: forest %d has features %q, want %q", i, o.Features, f.Features)
		}
	}
	for _, o := range others {
		for _, t := range o.Trees {
			f.Trees = append(f.Trees, Tree{Nodes: slices.Clone(t.Nodes)})
		}
	}
	f.flat.Store(nil)
	f.OOB = nil
	return nil
}

// task returns f.Task, with the version-1 default.
func (f *Forest) task() Task {
	if f.Task == "" {
		return Classification
	}
	return f.Task
}

// Importances returns, per feature, the mean decrease in impurity: for each
// tree the sum over its split nodes of W*Gain divided by the root's W,
// averaged over trees, then normalised to sum to 1. It returns all zeros if
// no tree has a split.
func (f *Forest) Importances() []float64 {
	imp := make([]float64, len(f.Features))
	for _, t := range f.Trees {
		if len(t.Nodes) == 0 || t.Nodes[0].weight() == 0 {
			continue
		}
		root := t.Nodes[0].weight()
		for _, nd := range t.Nodes {
			if nd.Feature >= 0 && nd.Feature < len(imp) {
				imp[nd.Feature] += nd.weight() * nd.Gain / root
			}
		}
	}
	var sum float64
	for _, v := range imp {
		sum += v
	}
	if sum > 0 {
		for i := range imp {
			imp[i] /= sum
		}
	}
	return imp
}

// validate checks that f is a well-formed forest of the current version.
func (f *Forest) validate() error {
	if f.Version != Version {
		return fmt.Errorf("unsupported version %d (want %d)", f.Version, Version)
	}
	if f.Task != Classification && f.Task != Regression {
		return fmt.Errorf("unknown task %q", f.Task)
	}
	d := len(f.Features)
	if d == 0 {
		return errors.New("no features")
	}
	if len(f.Trees) == 0 {
		return errors.New("no trees")
	}
	for i := range f.Trees {
		if err := f.Trees[i].Validate(d, f.Task); err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
	}
	return nil
}

// Validate checks that t is a tree rooted at node 0 over d features: every
// child index is in range and greater than its parent's, and every node but
// the root has exactly one parent, so prediction always terminates. Values
// are finite, and in [0, 1] for classification.
func (t *Tree) Validate(d int, task Task) error {
	n := len(t.Nodes)
	if n == 0 {
		return errors.New("no nodes")
	}
	parents := make([]int, n)
	for i, nd := range t.Nodes {
		if math.IsNaN(nd.Value) || math.IsInf(nd.Value, 0) {
			return fmt.Errorf("node %d: value %v", i, nd.Value)
		}
		if task == Classification && (nd.Value < 0 || nd.Value > 1) {
			return fmt.Errorf("node %d: value %v outside [0, 1]", i, nd.Value)
		}
		if nd.N < 0 || !(nd.W >= 0) || math.IsInf(nd.W, 0) {
			return fmt.Errorf("node %d: negative or invalid row count %d or weight %v", i, nd.N, nd.W)
		}
		if nd.Feature < 0 {
			if nd.Feature != -1 {
				return fmt.Errorf("node %d: feature %d", i, nd.Feature)
			}
			if nd.Left != 0 || nd.Right != 0 {
				return fmt.Errorf("node %d: leaf with children %d, %d", i, nd.Left, nd.Right)
			}
			continue
		}
		if nd.Feature >= d {
			return fmt.Errorf("node %d: feature %d out of range [0, %d)", i, nd.Feature, d)
		}
		if math.IsNaN(nd.Threshold) || math.IsInf(nd.Threshold, 0) {
			return fmt.Errorf("node %d: threshold %v", i, nd.Threshold)
		}
		if math.IsNaN(nd.Gain) || math.IsInf(nd.Gain, 0) || nd.Gain < 0 {
			return fmt.Errorf("node %d: gain %v", i, nd.Gain)
		}
		for _, c := range []int{nd.Left, nd.Right} {
			if c <= i || c >= n {
				return fmt.Errorf("node %d: child %d is not a node after it (tree has %d nodes)", i, c, n)
			}
			parents[c]++
		}
	}
	for i := 1; i < n; i++ {
		if parents[i] != 1 {
			return fmt.Errorf("node %d: referenced by %d parents, want 1", i, parents[i])
		}
	}
	return nil
}
