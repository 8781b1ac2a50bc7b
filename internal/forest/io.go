package forest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Save writes f to w as JSON in the current (version 2) encoding. It
// returns an error, writing nothing, if f is not a well-formed forest (see
// Load). An empty Task is written as classification.
//
// The encoding is one JSON object:
//
//	{
//	  "version": 2,
//	  "task": "classification" | "regression",
//	  "features": ["recency_days", ...],       // column order of Predict's rows
//	  "trees": [{"nodes": [NODE, ...]}, ...],  // root first; children after parents
//	  "oob": {"n": N, "auc": A, "logloss": L}  // optional out-of-bag estimate
//	}
//
// and a NODE is {"f": feature index or -1 at a leaf, "t": threshold, "l":
// left child, "r": right child, "ml": missing values go left, "v": value, "g":
// gain, "n": distinct rows, "w": weight}, with zero fields omitted. A row
// goes left when row[f] <= t, right when greater, and by "ml" when NaN.
// Version 1 is the same without "task" (always classification) and "w" (n
// counted bootstrap duplicates).
func (f *Forest) Save(w io.Writer) error {
	v := &Forest{Version: Version, Task: f.task(), Features: f.Features, Trees: f.Trees, OOB: f.OOB}
	if err := v.validate(); err != nil {
		return fmt.Errorf("forest: Save: %w", err)
	}
	return json.NewEncoder(w).Encode(v)
}

// Load reads a forest written by Save, of version 1 or 2; a version-1 forest
// is returned as a version-2 classification forest. It rejects other
// versions and forests whose shape is inconsistent: no features or trees,
// feature indices out of range, child indices that do not name a later
// node, nodes with other than one parent, non-finite values, or values
// outside [0, 1] in a classification forest.
func Load(r io.Reader) (*Forest, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("forest: Load: %w", err)
	}
	// Versions 1 and 2 share the node layout, so the trees can be decoded
	// with the rest in one pass (a third less time than decoding them on
	// their own after the version, BenchmarkLoad). An input that does not
	// decode that way takes the checked path below, for its error.
	var full struct {
		Version  *int     `json:"version"`
		Task     Task     `json:"task"`
		Features []string `json:"features"`
		Trees    []Tree   `json:"trees"`
		OOB      *OOB     `json:"oob"`
	}
	if json.NewDecoder(bytes.NewReader(data)).Decode(&full) != nil {
		return loadChecked(data)
	}
	f := &Forest{Features: full.Features, Trees: full.Trees, OOB: full.OOB}
	if err := f.setVersion(full.Version, full.Task); err != nil {
		return nil, err
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("forest: Load: %w", err)
	}
	return f, nil
}

// loadChecked is Load checking the version before it decodes the trees,
// whose layout depends on it.
func loadChecked(data []byte) (*Forest, error) {
	var raw struct {
		Version  *int            `json:"version"`
		Task     Task            `json:"task"`
		Features []string        `json:"features"`
		Trees    json.RawMessage `json:"trees"`
		OOB      *OOB            `json:"oob"`
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&raw); err != nil {
		return nil, fmt.Errorf("forest: Load: %w", err)
	}
	f := &Forest{Features: raw.Features, OOB: raw.OOB}
	if err := f.setVersion(raw.Version, raw.Task); err != nil {
		return nil, err
	}
	if len(raw.Trees) > 0 {
		if err := json.Unmarshal(raw.Trees, &f.Trees); err != nil {
			return nil, fmt.Errorf("forest: Load: trees: %w", err)
		}
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("forest: Load: %w", err)
	}
	return f, nil
}

// setVersion sets f's version and task from a decoded encoding's: a
// version-1 forest becomes a version-2 classification forest.
func (f *Forest) setVersion(version *int, task Task) error {
	if version == nil {
		return fmt.Errorf("forest: Load: no version field")
	}
	switch *version {
	case 1:
		if task != "" {
			return fmt.Errorf("forest: Load: version 1 has no task, got %q", task)
		}
		task = Classification
	case Version:
	default:
		return fmt.Errorf("forest: Load: unsupported version %d (want 1 or %d)", *version, Version)
	}
	f.Version, f.Task = Version, task
	return nil
}
