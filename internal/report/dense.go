package report

import (
	"html/template"

	"github.com/promoflow/promoflow/internal/segment"
)

// Dense is the density clusters of a run that asked for them (DBSCAN on
// the segment features): the dense clusters and the outliers with their
// profiles against everyone's, and the farthest outliers in aggregate.
type Dense struct {
	Eps      float64
	MinPts   int
	Excluded bool              // the template leaves the outliers out of the audience
	Clusters []segment.Profile // the dense clusters
	Outliers segment.Profile
	Everyone map[string]float64 // mean behaviour of all users
	// Farthest are the farthest outliers' distances to the nearest dense
	// region (standardized units, farthest first), FarthestMean their
	// mean behaviour and FarthestTable where their rows are.
	Farthest      []float64
	FarthestMean  map[string]float64
	FarthestTable string
}

var denseTmpl = parse("dense", `<p>DBSCAN on the standardized segment features (eps {{fixed .D.Eps 3}}, minPts {{.D.MinPts}}): users in no dense region are outliers, whatever segment k-means gave them{{if .D.Excluded}}; this template leaves them out of the audience{{end}}.</p>
<div class="scroll"><table>
<thead><tr><th>group</th><th class="num">users</th><th class="num">share</th>{{range .Cols}}<th class="num">{{.Label}}</th>{{end}}</tr></thead>
<tbody>{{$cols := .Cols}}{{range .Groups}}{{$g := .}}<tr><td>{{.Name}}</td><td class="num">{{int .Size}}</td><td class="num">{{pct .Share}}</td>{{range $cols}}<td class="num">{{mean $g.Mean .Key}}</td>{{end}}</tr>
{{end}}{{$e := .D.Everyone}}<tr><td>everyone</td><td></td><td></td>{{range $cols}}<td class="num">{{mean $e .Key}}</td>{{end}}</tr>
{{with .D.Farthest}}{{$f := $.D.FarthestMean}}<tr><td>the {{len .}} farthest</td><td class="num">{{len .}}</td><td></td>{{range $cols}}<td class="num">{{mean $f .Key}}</td>{{end}}</tr>
{{end}}</tbody></table></div>
{{with .D.Farthest}}<p>The {{len .}} farthest outliers are {{range $i, $d := .}}{{if $i}}, {{end}}{{fixed $d 2}}{{end}} standard deviations from the nearest dense region{{with $.D.FarthestTable}}; their rows, with ids: <code>{{.}}</code>{{end}}.</p>{{end}}
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
