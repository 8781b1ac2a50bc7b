package report

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/promoflow/promoflow/internal/segment"
)

// TestRenderDense: a run with density clusters gets their section after
// the segments, with the clusters, the outliers, everyone's means and the
// farthest outliers; a run without gets no section.
func TestRenderDense(t *testing.T) {
	d := Sample()
	d.Dense = &Dense{
		Eps: 1.2646, MinPts: 28, Excluded: true,
		Clusters: []segment.Profile{{ID: 0, Name: "dense 0", Size: 908, Share: 0.908, Mean: map[string]float64{"monetary": 1361.2}}},
		Outliers: segment.Profile{ID: -1, Name: "outliers", Size: 92, Share: 0.092, Mean: map[string]float64{"monetary": 7159.4, "return_rate": 0.2}},
		Everyone: map[string]float64{"monetary": 1895.4},
		Farthest: []float64{11.62, 10.39}, FarthestMean: map[string]float64{"return_rate": 1, "monetary": 0.5},
		FarthestTable: "s3://promoflow/runs/r/dense_outliers.csv",
	}
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(buf.String())
	checkHTML(t, buf.String())
	for _, w := range []string{
		`<section id="dense">`, "Density clusters and outliers", "eps 1.265, minPts 28", "leaves them out of the audience",
		"dense 0", "90.8%", "1,361.20", "outliers", "9.2%", "7,159.40", "everyone", "1,895.40", "the 2 farthest", "0.50",
		"The 2 farthest outliers are 11.62, 10.39 standard deviations", "s3://promoflow/runs/r/dense_outliers.csv",
	} {
		if !strings.Contains(page, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if s, e := strings.Index(page, `<section id="segments">`), strings.Index(page, `<section id="dense">`); s < 0 || e < s {
		t.Errorf("dense section at %d, segments at %d: want it after the segments", e, s)
	}
	buf.Reset()
	if err := Render(&buf, Sample()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `id="dense"`) {
		t.Error("a report without density clusters has their section")
	}
}
