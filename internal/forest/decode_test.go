package forest

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// TestTreeUnmarshalJSON: Tree.UnmarshalJSON decodes as encoding/json does,
// value for value and error for error, on the trees Save writes and on
// variants that the hand-written reader must hand over.
func TestTreeUnmarshalJSON(t *testing.T) {
	var inputs []string
	for _, f := range identityForests(t) {
		for _, tr := range f.Trees[:min(3, len(f.Trees))] {
			b, err := json.Marshal(tr)
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, string(b))
		}
	}
	inputs = append(inputs,
		`{"nodes":[]}`, `{"nodes":[{}]}`, `{"nodes":null}`, `null`, `{}`,
		` { "nodes" : [ { "v" : 0.5 , "f" : -1 , "n" : 3 } ] } `,
		"{\"nodes\":[{\"f\":0,\"t\":1.5e-3,\"l\":1,\"r\":2,\"ml\":true,\"v\":0.25,\"g\":1E2,\"n\":10,\"w\":2.5},\n{\"f\":-1,\"v\":0},{\"f\":-1,\"v\":1,\"ml\":false}]}",
		`{"nodes":[{"F":-1,"v":0.5}]}`,             // case-insensitive key
		`{"nodes":[{"f":-1,"v":0.5,"extra":[1]}]}`, // unknown key
		`{"nodes":[{"f":-1,"v":null}]}`,            // null leaves the zero
		`{"nodes":[{"f":1.0,"v":0.5}]}`,            // fraction in an int
		`{"nodes":[{"f":1e2,"v":0.5}]}`,            // exponent in an int
		`{"nodes":[{"f":-1,"v":1e400}]}`,           // out of range
		`{"nodes":[{"f":-1,"ml":1}]}`,              // number for a bool
		`{"nodes":[{"f":99999999999999999999}]}`,   // int overflow
		`{"nodes":[{"\u0066":-1,"v":0.5}]}`,        // escaped key
		`{"nodes":[{"f":-1,"v":-0}]}`,
		`{"nodes":[{"f":-0,"l":123456789,"r":1234567890,"n":-987654321}]}`, // both integer paths
		`{"nodes":[{"f":-1,"v":0.1,"v":0.2}]}`,                             // duplicate key: the last
		`{"nodes":[{"f":-1}],"nodes":[{"f":2}]}`,
		`{"nodes":[{"f":-1}],"other":1}`,
		`{"nodes":"x"}`, `[]`, `{"nodes":[{"f":-1}]`, `{"nodes":[{"f":-1},]}`,
	)
	for _, in := range inputs {
		var got, want Tree
		gerr := json.Unmarshal([]byte(in), &got)
		werr := json.Unmarshal([]byte(in), (*plainTree)(&want))
		if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
			t.Errorf("%.80s: error %v, encoding/json %v", in, gerr, werr)
			continue
		}
		if !sameNodes(got.Nodes, want.Nodes) {
			t.Errorf("%.80s: decoded %+v, encoding/json %+v", in, got.Nodes, want.Nodes)
		}
	}
	// The reader must take the common form itself, or it is never used.
	if _, ok := parseTree([]byte(inputs[0])); !ok {
		t.Errorf("parseTree does not read Save's form: %.80s", inputs[0])
	}
}

// sameNodes compares nodes bit for bit (signed zeros included) and nil
// against empty.
func sameNodes(a, b []Node) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		for _, p := range [][2]float64{{x.Threshold, y.Threshold}, {x.Value, y.Value}, {x.Gain, y.Gain}, {x.W, y.W}} {
			if math.Float64bits(p[0]) != math.Float64bits(p[1]) {
				return false
			}
		}
		x.Threshold, x.Value, x.Gain, x.W = 0, 0, 0, 0
		y.Threshold, y.Value, y.Gain, y.W = 0, 0, 0, 0
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}
