package report

import (
	"bytes"
	"html"
	"strings"
	"testing"

	"github.com/promoflow/promoflow/internal/strategy"
)

func TestMeasurabilityRendered(t *testing.T) {
	mdl := 0.1234
	for _, tc := range []struct {
		name string
		m    strategy.Measurability
		want []string
	}{
		{"measurable", strategy.Measurability{Control: 21, Treated: 39, ControlRate: 0.2, TreatedRate: 0.3, ExpectedLift: 0.1, MDL: &mdl, MinControl: 20, ToppedUp: true, Measurable: true, Detail: "21 control users can detect"},
			[]string{"<b>12.3 pp</b>", "Measurable.", "21 control users can detect", "users were added at random", "expected +10.0 pp"}},
		{"not measurable", strategy.Measurability{Control: 0, Treated: 30, TreatedRate: 0.3, MinControl: 20, Action: "approve", Detail: "not measurable: the control group is empty"},
			[]string{"Not measurable: the template waits for a reviewer", "none (a group is empty)", "not measurable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, Data{Campaign: "c", Measurability: &tc.m}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(html.UnescapeString(buf.String()), w) {
					t.Errorf("report lacks %q", w)
				}
			}
		})
	}
}
