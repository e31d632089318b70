package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// series is one named line of a plot.
type series struct {
	name string
	xs   []float64
	ys   []float64
}

// savePlot draws lines into a PNG at path, written atomically.
func savePlot(path, title, xlabel, ylabel string, lines ...series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	palette := []color.Color{
		color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
		color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
	}
	for i, s := range lines {
		if len(s.xs) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.xs))
		for j := range s.xs {
			pts[j].X, pts[j].Y = s.xs[j], s.ys[j]
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = palette[i%len(palette)]
		l.Width = vg.Points(1.5)
		p.Add(l)
		if s.name != "" {
			p.Legend.Add(s.name, l)
		}
	}
	p.Legend.Top = true
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp.png")
	if err := p.Save(8*vg.Inch, 5*vg.Inch, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// heatGrid adapts rows (kinds) × columns (layers) to plotter.GridXYZ.
type heatGrid struct {
	kinds []string
	vals  [][]float64
}

func (h heatGrid) Dims() (c, r int)   { return len(h.vals[0]), len(h.vals) }
func (h heatGrid) Z(c, r int) float64 { return h.vals[r][c] }
func (h heatGrid) X(c int) float64    { return float64(c) }
func (h heatGrid) Y(r int) float64    { return float64(r) }

// saveHeatmap draws values[kind][layer] as a heatmap (NaN cells blank).
func saveHeatmap(path, title string, values map[string][]float64) error {
	var h heatGrid
	for _, k := range []string{"attention", "mlp", "hidden"} {
		if v, ok := values[k]; ok {
			h.kinds = append(h.kinds, k)
			h.vals = append(h.vals, v)
		}
	}
	if len(h.vals) == 0 || len(h.vals[0]) == 0 {
		return fmt.Errorf("heatmap %s: no values", path)
	}
	p := plot.New()
	p.Title.Text = title + " (rows: " + strings.Join(h.kinds, ", ") + " from bottom)"
	p.X.Label.Text = "layer"
	p.Y.Label.Text = "kind"
	hm := plotter.NewHeatMap(h, moreland.SmoothBlueRed().Palette(64))
	hm.NaN = color.White
	p.Add(hm)
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp.png")
	if err := p.Save(8*vg.Inch, 4*vg.Inch, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("heatmap %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
