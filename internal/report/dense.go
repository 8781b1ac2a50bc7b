package report

import (
	"html/template"

	"github.com/promoflow/promoflow/internal/segment"
)

// Dense is the density clusters of a run that asked for them (DBSCAN on
// the segment features): the dense clusters and the outliers with their
// profiles against everyone's, and the farthest outliers, without ids.
type Dense struct {
	Eps      float64
	MinPts   int
	Excluded bool              // the template leaves the outliers out of the audience
	Clusters []segment.Profile // the dense clusters
	Outliers segment.Profile
	Everyone map[string]float64 // mean behaviour of all users
	Farthest []DenseOutlier
}

// DenseOutlier is one of the farthest outliers: its distance to the
// nearest dense region (standardized units) and its behaviour.
type DenseOutlier struct {
	Distance float64
	Profile  map[string]float64
}

var denseTmpl = parse("dense", `<p>DBSCAN on the standardized segment features (eps {{fixed .D.Eps 3}}, minPts {{.D.MinPts}}): users in no dense region are outliers, whatever segment k-means gave them{{if .D.Excluded}}; this template leaves them out of the audience{{end}}.</p>
<div class="scroll"><table>
<thead><tr><th>group</th><th class="num">users</th><th class="num">share</th>{{range .Cols}}<th class="num">{{.Label}}</th>{{end}}</tr></thead>
<tbody>{{$cols := .Cols}}{{range .Groups}}{{$g := .}}<tr><td>{{.Name}}</td><td class="num">{{int .Size}}</td><td class="num">{{pct .Share}}</td>{{range $cols}}<td class="num">{{mean $g.Mean .Key}}</td>{{end}}</tr>
{{end}}{{$e := .D.Everyone}}<tr><td>everyone</td><td></td><td></td>{{range $cols}}<td class="num">{{mean $e .Key}}</td>{{end}}</tr>
</tbody></table></div>
{{with .D.Farthest}}<p>The farthest outliers (distance to the nearest dense region, in standard deviations):</p>
<div class="scroll"><table>
<thead><tr><th class="num">distance</th>{{range $.Cols}}<th class="num">{{.Label}}</th>{{end}}</tr></thead>
<tbody>{{range .}}{{$o := .}}<tr><td class="num">{{fixed .Distance 2}}</td>{{range $.Cols}}<td class="num">{{mean $o.Profile .Key}}</td>{{end}}</tr>
{{end}}</tbody></table></div>{{end}}
`)

func (d Data) dense() (template.HTML, error) {
	groups := append([]segment.Profile(nil), d.Dense.Clusters...)
	groups = append(groups, d.Dense.Outliers)
	return execute(denseTmpl, struct {
		D      *Dense
		Cols   any
		Groups []segment.Profile
	}{d.Dense, profileCols, groups})
}
