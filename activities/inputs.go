package activities

import (
	"context"
	"slices"
	"strings"

	"github.com/promoflow/promoflow/internal/ingest"
)

// ResolveInputs returns the newest data under prefix, by the drop
// convention: each delivery is a folder below prefix named so that names
// sort by time (raw/shop/2026-11-23/events.csv.gz, ...), and the newest is
// the last folder in name order; all its files are the run's inputs. Files
// directly under prefix, when there are no folders, are all inputs.
func (a *Activities) ResolveInputs(ctx context.Context, prefix string) (_ []string, err error) {
	defer final(&err)
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	keys, err := a.Store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return newestDrop(prefix, keys)
}

// newestDrop picks the newest drop among keys (sorted) under prefix.
func newestDrop(prefix string, keys []string) ([]string, error) {
	newest := ""
	var flat []string
	for _, k := range keys {
		rest := strings.TrimPrefix(k, prefix)
		if strings.HasSuffix(rest, "/") || rest == "" {
			continue // a folder marker
		}
		dir, _, nested := strings.Cut(rest, "/")
		if !nested {
			flat = append(flat, k)
		} else if dir > newest {
			newest = dir
		}
	}
	if newest == "" {
		if len(flat) == 0 {
			return nil, &ingest.BadInputError{Source: prefix, Msg: "no input files"}
		}
		return flat, nil
	}
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix+newest+"/") && !strings.HasSuffix(k, "/") {
			out = append(out, k)
		}
	}
	return out, nil
}

// ResolveKeys returns keys with every prefix (a key ending in "/")
// replaced by the objects under it, in name order; other keys are kept as
// they are, in place. A prefix with no objects is bad input: a list that
// was asked for and is missing (an opt-out list, campaign history) must
// not pass for an empty one.
func (a *Activities) ResolveKeys(ctx context.Context, keys []string) (_ []string, err error) {
	defer final(&err)
	return a.expandKeys(ctx, keys, func(prefix string) error {
		return &ingest.BadInputError{Source: prefix, Msg: "no objects under this prefix"}
	})
}

// expandKeys replaces every prefix of keys (a key ending in "/") by the
// objects under it, in name order, folder markers left out; other keys
// stay as they are, in place. empty, when not nil, says what a prefix
// with no objects is.
func (a *Activities) expandKeys(ctx context.Context, keys []string, empty func(prefix string) error) ([]string, error) {
	var out []string
	for _, k := range keys {
		if !strings.HasSuffix(k, "/") {
			out = append(out, k)
			continue
		}
		under, err := a.Store.List(ctx, k)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, u := range under {
			if !strings.HasSuffix(u, "/") {
				out = append(out, u)
			}
		}
		if len(out) == n && empty != nil {
			return nil, empty(k)
		}
		slices.Sort(out[n:])
	}
	return out, nil
}
