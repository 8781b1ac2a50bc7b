package mapping

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// checkKeys reports the first key of the file that the format does not
// know, with its line and column, where it is and the keys known there
// (the yaml tags of fileYAML, sourceYAML, its skip rules and columnYAML,
// so the lists cannot drift from the decoder).
func checkKeys(doc *yaml.Node) error {
	if doc.Kind != yaml.MappingNode {
		return &Error{Line: doc.Line, Column: doc.Column, Msg: "want a map with sources: (and dataset:, description:)"}
	}
	if err := unknownKey(doc, reflect.TypeFor[fileYAML](), "at the top of the file"); err != nil {
		return err
	}
	sources := value(doc, "sources")
	if sources == nil || sources.Kind != yaml.SequenceNode {
		return nil // the decoder says what is wrong
	}
	skipType := reflect.TypeFor[sourceYAML]()
	f, _ := skipType.FieldByName("Skip")
	for i, s := range sources.Content {
		if s.Kind != yaml.MappingNode {
			continue
		}
		where := fmt.Sprintf("in source %d", i+1)
		if err := unknownKey(s, reflect.TypeFor[sourceYAML](), where); err != nil {
			return err
		}
		if skip := value(s, "skip"); skip != nil && skip.Kind == yaml.SequenceNode {
			for _, r := range skip.Content {
				if err := unknownKey(r, f.Type.Elem(), where+", skip rule"); err != nil {
					return err
				}
			}
		}
		for _, key := range []string{"columns", "attributes"} {
			cols := value(s, key)
			if cols == nil || cols.Kind != yaml.MappingNode {
				continue
			}
			for j := 0; j+1 < len(cols.Content); j += 2 {
				err := unknownKey(cols.Content[j+1], reflect.TypeFor[columnYAML](), fmt.Sprintf("%s, column %q", where, cols.Content[j].Value))
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// value is the value of key in map node m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// unknownKey reports the first key of map node m that is not a yaml tag of
// struct type t; m not a map is left to the decoder.
func unknownKey(m *yaml.Node, t reflect.Type, where string) error {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	var known []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			known = append(known, name)
		}
	}
	slices.Sort(known)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if slices.Contains(known, k.Value) {
			continue
		}
		msg := fmt.Sprintf("unknown key %q %s", k.Value, where)
		if s := closest(k.Value, known); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return &Error{Line: k.Line, Column: k.Column, Msg: msg + "; known keys: " + strings.Join(known, ", ")}
	}
	return nil
}

// closest is the known key within two edits of s, if any.
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	typeLine   = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// yamlError turns the YAML parser's or decoder's err into an Error in the
// file's terms: the line (and column where a key is to blame), what was
// found and what is wanted, not YAML tags and Go types.
func yamlError(err error, doc *yaml.Node) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		m := typeLine.FindStringSubmatch(te.Errors[0])
		if m == nil {
			return &Error{Msg: strings.TrimPrefix(te.Errors[0], "yaml: ")}
		}
		line, _ := strconv.Atoi(m[1])
		found := map[string]string{"seq": "a list", "map": "a map", "str": "text", "int": "a number", "float": "a number", "bool": "true or false", "null": "nothing"}[m[2]]
		if found == "" {
			found = m[2]
		}
		if m[3] != "" {
			found += fmt.Sprintf(" (%s)", m[3])
		}
		want := "a map"
		switch into := strings.TrimPrefix(m[4], "*"); {
		case strings.HasPrefix(into, "[]"):
			want = "a list"
		case into == "string":
			want = "text"
		case into == "bool":
			want = "true or false"
		case strings.HasPrefix(into, "int"), strings.HasPrefix(into, "float"):
			want = "a number"
		}
		e := &Error{Line: line, Msg: fmt.Sprintf("want %s, not %s", want, found)}
		if k, v := keyAt(doc, line, "!!"+m[2], m[3]); k != nil {
			e.Column, e.Msg = v.Column, fmt.Sprintf("%s: %s", k.Value, e.Msg)
		}
		return e
	}
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Msg: "not valid YAML: " + m[2]}
	}
	return &Error{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

// keyAt finds the first map entry, depth first, whose value starts on
// line with YAML tag tag (and, when text is not empty, that text).
func keyAt(n *yaml.Node, line int, tag, text string) (key, val *yaml.Node) {
	if n == nil {
		return nil, nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := n.Content[i+1]; v.Line == line && v.ShortTag() == tag && (text == "" || v.Value == text) {
				return n.Content[i], v
			}
		}
	}
	for _, c := range n.Content {
		if k, v := keyAt(c, line, tag, text); k != nil {
			return k, v
		}
	}
	return nil, nil
}
