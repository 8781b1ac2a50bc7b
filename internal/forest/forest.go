// Package forest grows CART decision trees and random forests for binary
// classification.
//
// Trees are stored as flat node arrays so a Forest is plain data: it can be
// saved as JSON, shipped between processes and merged with forests grown on
// other data shards. Training is deterministic for a given Params.Seed, even
// though trees are grown concurrently.
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
)

// Version is the Forest encoding written by Save and accepted by Load.
const Version = 1

// Params control training.
type Params struct {
	Trees       int     // trees to grow
	MaxDepth    int     // 0 means 8
	MinLeaf     int     // minimum rows per leaf; 0 means 5
	MaxFeatures int     // features tried per split; 0 means ceil(sqrt(d))
	MinGain     float64 // minimum impurity decrease to split
	Bootstrap   bool    // sample rows with replacement per tree (else all rows)
	Seed        uint64  // all randomness derives from it
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
	// Value is the training estimate at the node: the fraction of positive
	// rows. At a leaf it is the tree's prediction.
	Value float64 `json:"v"`
	// Gain is the impurity decrease of the split (Gini of the node minus the
	// size-weighted Gini of its children). Zero at a leaf.
	Gain float64 `json:"g,omitempty"`
	// N is the number of training rows that reached the node, counting
	// bootstrap duplicates.
	N int `json:"n"`
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
	Features []string `json:"features"`
	Trees    []Tree   `json:"trees"`
}

// Predict returns the mean over trees of the leaf estimate of P(y=1) for row,
// or NaN if the forest has no trees. It panics if len(row) differs from the
// number of features.
func (f *Forest) Predict(row []float64) float64 {
	if len(row) != len(f.Features) {
		panic(fmt.Sprintf("forest: Predict with %d values, forest has %d features", len(row), len(f.Features)))
	}
	if len(f.Trees) == 0 {
		return math.NaN()
	}
	var s float64
	for i := range f.Trees {
		s += f.Trees[i].Predict(row)
	}
	return s / float64(len(f.Trees))
}

// Merge appends copies of the trees of others to f, so that f predicts the
// mean over all trees. It returns an error, leaving f unchanged, if any
// forest is nil or has a different feature list.
func (f *Forest) Merge(others ...*Forest) error {
	for i, o := range others {
		if o == nil {
			return fmt.Errorf("forest: Merge: forest %d is nil", i)
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
	return nil
}

// Importances returns, per feature, the mean decrease in impurity: for each
// tree the sum over its split nodes of N*Gain divided by the root's N,
// averaged over trees, then normalised to sum to 1. It returns all zeros if
// no tree has a split.
func (f *Forest) Importances() []float64 {
	imp := make([]float64, len(f.Features))
	for _, t := range f.Trees {
		if len(t.Nodes) == 0 || t.Nodes[0].N == 0 {
			continue
		}
		root := float64(t.Nodes[0].N)
		for _, nd := range t.Nodes {
			if nd.Feature >= 0 && nd.Feature < len(imp) {
				imp[nd.Feature] += float64(nd.N) * nd.Gain / root
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

// validate checks that f is a well-formed version-1 forest.
func (f *Forest) validate() error {
	if f.Version != Version {
		return fmt.Errorf("unsupported version %d (want %d)", f.Version, Version)
	}
	d := len(f.Features)
	if d == 0 {
		return errors.New("no features")
	}
	if len(f.Trees) == 0 {
		return errors.New("no trees")
	}
	for i := range f.Trees {
		if err := f.Trees[i].validate(d); err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
	}
	return nil
}

// validate checks that t is a tree rooted at node 0 over d features: every
// child index is in range and greater than its parent's, and every node but
// the root has exactly one parent, so prediction always terminates.
func (t *Tree) validate(d int) error {
	n := len(t.Nodes)
	if n == 0 {
		return errors.New("no nodes")
	}
	parents := make([]int, n)
	for i, nd := range t.Nodes {
		if math.IsNaN(nd.Value) || math.IsInf(nd.Value, 0) || nd.Value < 0 || nd.Value > 1 {
			return fmt.Errorf("node %d: value %v outside [0, 1]", i, nd.Value)
		}
		if nd.N < 0 {
			return fmt.Errorf("node %d: negative row count %d", i, nd.N)
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
