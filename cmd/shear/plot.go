package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/shear-ai/shear/prune"
)

// series is one named line of a plot.
type series struct {
	name string
	xs   []float64
	ys   []float64
	// style: a faint line is the raw data under its smoothed version, a
	// reference line is dashed (a target, the dense model).
	faint, reference bool
	color            int // palette index; a series and its smoothed line share one
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255},
	{214, 39, 40, 255}, {148, 103, 189, 255}, {140, 86, 75, 255},
}

// withSmoothed returns s drawn faint and beside it its moving mean over a
// window of about a twentieth of the points (per-step losses are noise
// around the trend the plot is for).
func withSmoothed(s series) []series {
	if len(s.ys) < 20 {
		return []series{s}
	}
	w := max(len(s.ys)/20, 3)
	sm := series{name: s.name + " (mean of " + fmt.Sprint(w) + " steps)", xs: s.xs, ys: make([]float64, len(s.ys)), color: s.color}
	sum := 0.0
	for i, y := range s.ys {
		sum += y
		if i >= w {
			sum -= s.ys[i-w]
		}
		sm.ys[i] = sum / float64(min(i+1, w))
	}
	raw := s
	raw.name, raw.faint = s.name+" (per step)", true
	return []series{raw, sm}
}

// savePlot draws lines into a PNG at path, written atomically. The y axis
// leaves room above the data for the legend, so it covers no line.
func savePlot(path, title, xlabel, ylabel string, lines ...series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	lo, hi, named := math.Inf(1), math.Inf(-1), 0
	for _, s := range lines {
		if len(s.xs) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.xs))
		for j := range s.xs {
			pts[j].X, pts[j].Y = s.xs[j], s.ys[j]
			lo, hi = math.Min(lo, s.ys[j]), math.Max(hi, s.ys[j])
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		c := palette[s.color%len(palette)]
		l.Color, l.Width = c, vg.Points(1.5)
		switch {
		case s.faint:
			l.Color, l.Width = color.NRGBA{c.R, c.G, c.B, 80}, vg.Points(0.8)
		case s.reference:
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(4)}
			l.Color = color.RGBA{90, 90, 90, 255}
		}
		p.Add(l)
		if s.name != "" {
			p.Legend.Add(s.name, l)
			named++
		}
	}
	if named > 0 && hi > lo {
		// about one legend row per 7% of the height
		p.Y.Min, p.Y.Max = math.Min(p.Y.Min, lo), hi+(hi-lo)*(0.08*float64(named)+0.05)/(1-0.08*float64(named))
	}
	p.Legend.Top, p.Legend.XOffs = true, -2*vg.Millimeter
	p.Add(plotter.NewGrid())
	return savePNG(path, 8*vg.Inch, 5*vg.Inch, func(c draw.Canvas) { p.Draw(c) })
}

// savePNG draws into a w × h PNG at path, written atomically.
func savePNG(path string, w, h vg.Length, drawIt func(draw.Canvas)) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	drawIt(dc)
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp.png")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
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

// integerTicks labels the cells 0..n-1 of an axis with names (or their
// numbers), with no ticks between cells.
type integerTicks []string

func (t integerTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for i, name := range t {
		out = append(out, plot.Tick{Value: float64(i), Label: name})
	}
	return out
}

// saveHeatmap draws values[kind][layer] as a heatmap (NaN cells blank)
// with each row named by its kind, each column by its layer, and the
// colour scale below it. Each row is divided by its largest value: an
// attention group holds far more parameters than an MLP channel, so on one
// absolute scale the MLP row is one colour; the question the map answers
// is which layers of each kind matter most.
func saveHeatmap(path, title string, values map[string][]float64) error {
	var h heatGrid
	for _, k := range []string{"attention", "mlp", "hidden"} {
		v, ok := values[k]
		if !ok {
			continue
		}
		top := 0.0
		for _, x := range v {
			if !math.IsNaN(x) {
				top = math.Max(top, math.Abs(x))
			}
		}
		row := make([]float64, len(v))
		for i, x := range v {
			row[i] = x / math.Max(top, 1e-30)
		}
		h.kinds = append(h.kinds, fmt.Sprintf("%s (max %.2g)", k, top))
		h.vals = append(h.vals, row)
	}
	if len(h.vals) == 0 || len(h.vals[0]) == 0 {
		return fmt.Errorf("heatmap %s: no values", path)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, row := range h.vals {
		for _, v := range row {
			if !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	pal := moreland.SmoothBlueRed()
	pal.SetMin(lo)
	pal.SetMax(hi)
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "layer"
	hm := plotter.NewHeatMap(h, pal.Palette(64))
	hm.Min, hm.Max, hm.NaN = lo, hi, color.White
	p.Add(hm)
	layers := make(integerTicks, len(h.vals[0]))
	for i := range layers {
		layers[i] = fmt.Sprint(i)
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = layers, integerTicks(h.kinds)
	bar := plot.New()
	bar.Title.Text = "deviation / the largest of its kind"
	bar.HideY()
	bar.Add(&plotter.ColorBar{ColorMap: pal})
	return savePNG(path, 8*vg.Inch, 5*vg.Inch, func(c draw.Canvas) {
		h := c.Max.Y - c.Min.Y
		p.Draw(draw.Crop(c, 0, 0, 0.22*h, 0))   // the map above
		bar.Draw(draw.Crop(c, 0, 0, 0, -0.8*h)) // the scale in the lowest fifth
	})
}

// saveLossPlot draws a training loss: per step (faint), its moving mean,
// and the dev loss.
func saveLossPlot(path, title string, steps, loss, devSteps, dev []float64) error {
	lines := withSmoothed(series{name: "train", xs: steps, ys: loss})
	lines = append(lines, series{name: "dev", xs: devSteps, ys: dev, color: 1})
	return savePlot(path, title, "step", "loss", lines...)
}

// savePruneReportPlots draws a pruning report's plots into dir:
// loss.png (does the loss recover while groups are zeroed?),
// sparsity.png (how far toward the target, in parameters?) and
// widths.png (which layers lost what, against the dense model?).
func savePruneReportPlots(dir string, rep *prune.Report) error {
	var steps, loss, params, groups []float64
	for _, s := range rep.Log {
		steps, loss = append(steps, float64(s.Step)), append(loss, s.Loss)
		params, groups = append(params, s.ParamSparsity), append(groups, s.Sparsity)
	}
	if len(steps) > 0 {
		if err := savePlot(filepath.Join(dir, "loss.png"), "LHSPG training loss", "step", "loss",
			withSmoothed(series{name: "loss", xs: steps, ys: loss})...); err != nil {
			return err
		}
		target := series{name: fmt.Sprintf("target %.2g of the parameters", rep.Target), xs: []float64{steps[0], steps[len(steps)-1]},
			ys: []float64{rep.Target, rep.Target}, reference: true}
		if err := savePlot(filepath.Join(dir, "sparsity.png"), "zeroed so far (groups differ in size: the target counts parameters)", "step", "fraction",
			series{name: "parameters in zeroed groups", xs: steps, ys: params},
			series{name: "groups zeroed (fraction of their number)", xs: steps, ys: groups, color: 1}, target); err != nil {
			return err
		}
	}
	var layers, heads, ffn []float64
	relative := len(rep.DenseHeads) == len(rep.Heads) && len(rep.DenseFFN) == len(rep.FFN)
	for l := range rep.FFN {
		layers = append(layers, float64(l))
		h, f := float64(rep.Heads[l]), float64(rep.FFN[l])
		if relative {
			h, f = h/float64(max(rep.DenseHeads[l], 1)), f/float64(max(rep.DenseFFN[l], 1))
		}
		heads, ffn = append(heads, h), append(ffn, f)
	}
	if !relative { // a report without the dense widths
		return savePlot(filepath.Join(dir, "widths.png"), "kept width per layer", "layer", "width",
			series{name: "query heads", xs: layers, ys: heads}, series{name: "FFN channels", xs: layers, ys: ffn, color: 1})
	}
	dense := series{name: "dense model", xs: []float64{0, float64(len(layers) - 1)}, ys: []float64{1, 1}, reference: true}
	title := fmt.Sprintf("kept width per layer / dense width (dense layer 0: %d heads, %d FFN channels)", rep.DenseHeads[0], rep.DenseFFN[0])
	return savePlot(filepath.Join(dir, "widths.png"), title, "layer", "fraction kept",
		series{name: "query heads", xs: layers, ys: heads}, series{name: "FFN channels", xs: layers, ys: ffn, color: 1}, dense)
}

// saveRecoveryPlots draws dynamic recovery's plots into dir:
// subset-weights.png (which data did recovery lean on, when?) and
// recovery-loss.png (did each stage's loss come down?).
func saveRecoveryPlots(dir string, rrep *prune.RecoverReport) error {
	if rrep == nil {
		return nil
	}
	if len(rrep.Weights) > 0 {
		var lines []series
		for i, name := range rrep.Subsets {
			s := series{name: name, color: i}
			for k, w := range rrep.Weights {
				s.xs, s.ys = append(s.xs, float64(rrep.WeightSteps[k])), append(s.ys, w[i])
			}
			lines = append(lines, s)
		}
		if err := savePlot(filepath.Join(dir, "subset-weights.png"), "recovery: sampling weight of each data subset", "step", "weight", lines...); err != nil {
			return err
		}
	}
	s1, s2 := series{name: "stage 1 (text)"}, series{name: "stage 2 (instructions)", color: 1}
	for _, s := range rrep.Log1 {
		s1.xs, s1.ys = append(s1.xs, float64(s.Step)), append(s1.ys, s.Loss)
	}
	for _, s := range rrep.Log2 {
		s2.xs, s2.ys = append(s2.xs, float64(len(rrep.Log1)+s.Step)), append(s2.ys, s.Loss)
	}
	return savePlot(filepath.Join(dir, "recovery-loss.png"), "recovery loss", "step", "loss", append(withSmoothed(s1), withSmoothed(s2)...)...)
}
