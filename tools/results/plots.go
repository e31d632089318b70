package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The palette of cmd/shear's plots.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255},
	{214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255},
	{227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// meanErrors is a line's points with their ±sd bars.
type meanErrors struct {
	plotter.XYs
	plotter.YErrors
}

// savePPLPlot draws, per row, the mean perplexity at each ratio with ±sd
// bars, every line starting at the dense model (ratio 0).
func savePPLPlot(path, title string, dense float64, groups []group) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "fraction of parameters removed"
	p.Y.Label.Text = "perplexity (mean ± sd over seeds)"
	lowest := dense // the lowest bar end: a log scale needs it > 0
	var rows []string
	for _, g := range groups {
		if !slices.Contains(rows, g.row) {
			rows = append(rows, g.row)
		}
	}
	for i, row := range rows {
		pts := meanErrors{XYs: plotter.XYs{{X: 0, Y: dense}}, YErrors: plotter.YErrors{{}}}
		for _, g := range groups {
			if g.row != row {
				continue
			}
			st := g.stat(func(o *outcome) float64 { return o.PPL })
			sd := st.SD
			if math.IsNaN(sd) {
				sd = 0
			}
			lowest = math.Min(lowest, st.Mean-sd)
			pts.XYs = append(pts.XYs, plotter.XY{X: g.ratio, Y: st.Mean})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{sd, sd})
		}
		c := palette[i%len(palette)]
		l, sc, err := plotter.NewLinePoints(pts.XYs)
		if err != nil {
			return err
		}
		l.Color, l.Width = c, vg.Points(1.5)
		if strings.Contains(row, " ") { // ablations dashed
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		sc.Color, sc.Shape = c, draw.CircleGlyph{}
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return err
		}
		bars.Color = c
		p.Add(l, sc, bars)
		p.Legend.Add(row, l, sc)
	}
	if len(rows) > 0 && lowest > 0 { // perplexity grows fast with the ratio
		p.Y.Label.Text += ", log scale"
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return save(p, path)
}

// saveKnowledgePlot draws the mean loss deviation per layer, one line per
// kind, each divided by its kind's mean |Δ| over the layers (1: the
// kind's average layer): an attention group holds far more parameters
// than an MLP channel, so on one scale the MLP line is flat; the question
// is which layers of each kind matter most.
func saveKnowledgePlot(path, title string, know map[string][]float64) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "layer"
	p.Y.Label.Text = "mean Δ_g / the kind's mean |Δ| over layers"
	for i, k := range []string{"attention", "mlp", "hidden"} {
		var pts plotter.XYs
		scale := 0.0
		for l, x := range know[k] {
			if !math.IsNaN(x) {
				pts = append(pts, plotter.XY{X: float64(l), Y: x})
				scale += math.Abs(x)
			}
		}
		if len(pts) == 0 {
			continue
		}
		scale = math.Max(scale/float64(len(pts)), 1e-30)
		for j := range pts {
			pts[j].Y /= scale
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, sc.Color, l.Width = palette[i], palette[i], vg.Points(1.5)
		p.Add(l, sc)
		p.Legend.Add(fmt.Sprintf("%s (mean |Δ| %.2g)", k, scale), l, sc)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return save(p, path)
}

// save writes the plot in the format its extension names, atomically.
func save(p *plot.Plot, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp"+filepath.Ext(path))
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
