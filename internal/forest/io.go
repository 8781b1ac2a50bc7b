package forest

import (
	"encoding/json"
	"fmt"
	"io"
)

// Save writes f to w as JSON in the version-1 encoding. It returns an error,
// writing nothing, if f is not a well-formed forest (see Load).
func (f *Forest) Save(w io.Writer) error {
	v := *f
	v.Version = Version
	if err := v.validate(); err != nil {
		return fmt.Errorf("forest: Save: %w", err)
	}
	return json.NewEncoder(w).Encode(&v)
}

// Load reads a forest written by Save. It rejects encodings of other versions
// and forests whose shape is inconsistent: no features or trees, feature
// indices out of range, child indices that do not name a later node, nodes
// with other than one parent, or node values outside [0, 1].
func Load(r io.Reader) (*Forest, error) {
	var raw struct {
		Version  *int            `json:"version"`
		Features []string        `json:"features"`
		Trees    json.RawMessage `json:"trees"`
	}
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("forest: Load: %w", err)
	}
	// Check the version before decoding the trees, whose layout depends on it.
	if raw.Version == nil {
		return nil, fmt.Errorf("forest: Load: no version field")
	}
	if *raw.Version != Version {
		return nil, fmt.Errorf("forest: Load: unsupported version %d (want %d)", *raw.Version, Version)
	}
	f := &Forest{Version: *raw.Version, Features: raw.Features}
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
