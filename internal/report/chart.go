package report

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"regexp"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart sizes in points; the SVG scales to its container's width.
const (
	// Near a phone's width in CSS pixels, so text keeps its size there;
	// on a desktop the chart grows up to the CSS max-width.
	ChartWidth  = 5 * vg.Inch
	ChartHeight = 3 * vg.Inch
)

// Palette is the charts' series colours (colour-blind safe, Okabe-Ito).
var Palette = []color.Color{
	color.RGBA{0x00, 0x72, 0xB2, 0xff}, // blue
	color.RGBA{0xE6, 0x9F, 0x00, 0xff}, // orange
	color.RGBA{0x00, 0x9E, 0x73, 0xff}, // green
	color.RGBA{0xCC, 0x79, 0xA7, 0xff}, // purple
	color.RGBA{0x56, 0xB4, 0xE9, 0xff}, // sky
	color.RGBA{0xD5, 0x5E, 0x00, 0xff}, // vermillion
}

// Series is one line of a line chart.
type Series struct {
	Name   string
	X, Y   []float64
	Dash   bool // drawn dashed, e.g. a reference line
	Points bool // drawn as marked points, not a line
}

// svgHeader matches the size attributes vgsvg writes, replaced so the chart
// fills its container's width at any screen size (the viewBox keeps the
// aspect ratio).
var svgHeader = regexp.MustCompile(`(?s)^.*?<svg width="[^"]*" height="[^"]*"`)

// SVG renders p as an inline <svg> element that scales to its container's
// width. title is its accessible name.
func SVG(p *plot.Plot, title string, w, h vg.Length) (template.HTML, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("chart %q: %w", title, err)
	}
	loc := svgHeader.FindIndex(buf.Bytes())
	if loc == nil {
		return "", fmt.Errorf("chart %q: unexpected SVG header", title)
	}
	head := fmt.Sprintf(`<svg class="chart" role="img" aria-label="%s" width="100%%" preserveAspectRatio="xMidYMid meet"`, template.HTMLEscapeString(title))
	return template.HTML(head + buf.String()[loc[1]:]), nil // #nosec: vgsvg escapes its text
}

// newPlot is a plot with the report's look: light grid, sans labels.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Y.Tick.Marker = thousands{}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font.Size = vg.Points(11)
		ax.Tick.Label.Font.Size = vg.Points(10)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	return p
}

// thousands labels ticks as 1.2k, 3.4M so they stay short on a phone.
type thousands struct{}

// Ticks implements plot.Ticker.
func (thousands) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = Short(ts[i].Value)
		}
	}
	return ts
}

// BarChart draws one bar per label. Values that are not finite are drawn
// as zero; an empty chart is an error, since it says nothing.
func BarChart(title, xlabel, ylabel string, labels []string, values []float64) (template.HTML, error) {
	if len(labels) == 0 || len(labels) != len(values) {
		return "", fmt.Errorf("bar chart %q: %d labels, %d values", title, len(labels), len(values))
	}
	p := newPlot(title, xlabel, ylabel)
	vs := make(plotter.Values, len(values))
	for i, v := range values {
		vs[i] = finite(v)
	}
	w := vg.Points(float64(ChartWidth) * 0.6 / float64(len(vs)))
	if w > 40 {
		w = 40
	}
	bars, err := plotter.NewBarChart(vs, w)
	if err != nil {
		return "", fmt.Errorf("bar chart %q: %w", title, err)
	}
	bars.Color = Palette[0]
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(labels...)
	if len(labels) > 5 {
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	// Half a slot of room on both sides, so the outer bars and their labels
	// are not cut at the edges.
	p.X.Min, p.X.Max = -0.5, float64(len(vs))-0.5
	p.Y.Min = 0
	return SVG(p, title, ChartWidth, ChartHeight)
}

// LineChart draws series on shared axes, with a legend when there are
// several. Points with a non-finite coordinate are left out; a chart with no
// point at all is an error.
func LineChart(title, xlabel, ylabel string, series []Series) (template.HTML, error) {
	p := newPlot(title, xlabel, ylabel)
	p.X.Tick.Marker = thousands{}
	points := 0
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return "", fmt.Errorf("line chart %q: series %q has %d x and %d y", title, s.Name, len(s.X), len(s.Y))
		}
		var xys plotter.XYs
		for j := range s.X {
			if isFinite(s.X[j]) && isFinite(s.Y[j]) {
				xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
			}
		}
		if len(xys) == 0 {
			continue
		}
		points += len(xys)
		if s.Points {
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return "", fmt.Errorf("line chart %q: %w", title, err)
			}
			sc.GlyphStyle.Color = Palette[i%len(Palette)]
			sc.GlyphStyle.Radius = vg.Points(4)
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			p.Add(sc)
			if len(series) > 1 {
				p.Legend.Add(s.Name, sc)
			}
			continue
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return "", fmt.Errorf("line chart %q: %w", title, err)
		}
		l.Color = Palette[i%len(Palette)]
		l.Width = vg.Points(2)
		if s.Dash {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
			l.Width = vg.Points(1.5)
		}
		p.Add(l)
		if len(series) > 1 {
			p.Legend.Add(s.Name, l)
		}
	}
	if points == 0 {
		return "", errors.New("line chart " + fmt.Sprintf("%q", title) + ": no finite points")
	}
	// Room on the right for the last tick label.
	p.X.Padding = vg.Points(4)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(12)
	return SVG(p, title, ChartWidth, ChartHeight)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func finite(v float64) float64 {
	if isFinite(v) {
		return v
	}
	return 0
}
