package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Size of every chart: wide enough for a minute of 1-second points to stay legible.
const (
	Width  = 9 * vg.Inch
	Height = 4.5 * vg.Inch
)

// Render draws c as "png" or "svg".
func Render(c Chart, format string) ([]byte, error) {
	p, leg, err := build(c)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", c.Name, err)
	}
	var cw vg.CanvasWriterTo
	var img *vgimg.Canvas
	switch format {
	case "png":
		img = vgimg.New(Width, Height)
		cw = vgimg.PngCanvas{Canvas: img}
	default:
		if cw, err = draw.NewFormattedCanvas(Width, Height, format); err != nil {
			return nil, fmt.Errorf("chart %s: %w", c.Name, err)
		}
	}
	dc := draw.New(cw)
	// The legend gets its own column on the right so it never hides data.
	lw := legendWidth(leg, c)
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	if lw > 0 {
		la := draw.Crop(dc, Width-lw+vg.Points(6), 0, 0, -vg.Points(24))
		leg.Draw(la)
	}
	var buf bytes.Buffer
	if img != nil {
		// Fastest deflate: charts are flat colours, and the default level triples encode time for a few KB.
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(&buf, img.Image()); err != nil {
			return nil, fmt.Errorf("chart %s: encode png: %w", c.Name, err)
		}
		return buf.Bytes(), nil
	}
	if _, err := cw.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: render %s: %w", c.Name, format, err)
	}
	return buf.Bytes(), nil
}

func legendWidth(l *plot.Legend, c Chart) vg.Length {
	var w vg.Length
	for _, s := range c.Lines {
		w = max(w, l.TextStyle.Width(s.Label))
	}
	for _, b := range c.Bars {
		w = max(w, l.TextStyle.Width(b.Label))
	}
	if w == 0 {
		return 0
	}
	return w + l.ThumbnailWidth + vg.Points(20)
}

func build(c Chart) (*plot.Plot, *plot.Legend, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	p.Add(plotter.NewGrid())

	switch c.X {
	case XNines:
		p.X.Tick.Marker = ninesTicks{}
	case XCategory:
		if len(c.Categories) > 0 { // NominalX panics on none
			p.NominalX(c.Categories...)
		}
	}
	if c.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	} else {
		p.Y.Tick.Marker = niceTicks{}
	}
	if c.X == XTime {
		p.X.Tick.Marker = niceTicks{}
	}

	for i, s := range c.Lines {
		pts := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			// A log axis cannot show zero; such points are left out rather than faked.
			if c.LogY && pt.Y <= 0 || math.IsNaN(pt.Y) || math.IsInf(pt.Y, 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: pt.X, Y: pt.Y})
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, nil, fmt.Errorf("series %s: %w", s.Label, err)
		}
		l.Color = plotutil.Color(i)
		if s.Palette > 0 {
			l.Color = plotutil.Color(s.Palette - 1)
		}
		l.Width = vg.Points(1.5)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		leg.Add(s.Label, l)
	}

	if len(c.Bars) > 0 {
		w := vg.Points(18)
		for i, b := range c.Bars {
			if len(b.Values) == 0 {
				continue
			}
			bc, err := plotter.NewBarChart(plotter.Values(b.Values), w)
			if err != nil {
				return nil, nil, fmt.Errorf("bars %s: %w", b.Label, err)
			}
			bc.Color = plotutil.Color(i)
			bc.LineStyle.Width = 0
			bc.Offset = w * vg.Length(float64(i)-float64(len(c.Bars)-1)/2)
			p.Add(bc)
			leg.Add(b.Label, bc)
		}
	}

	if len(c.Markers) > 0 {
		p.Add(markers{ms: c.Markers, text: p.Legend.TextStyle})
	}
	if c.Empty() {
		// Keep the axes sane so an empty chart still renders and says so.
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
		if c.LogY {
			p.Y.Min, p.Y.Max = 0.1, 1
		}
		p.Title.Text += " (no data)"
		return p, &leg, nil
	}
	pad(p, c)
	return p, &leg, nil
}

// pad leaves room around the data: linear y axes start at zero (a rate drawn from
// 40 reads as a collapse), the nines axis ends past its last label, bars sit inside the frame.
func pad(p *plot.Plot, c Chart) {
	switch c.X {
	case XNines:
		p.X.Min, p.X.Max = NinesMin-0.05, p.X.Max+0.15
	case XCategory:
		p.X.Min, p.X.Max = -0.6, float64(len(c.Categories))-0.4
	}
	if c.LogY {
		p.Y.Max *= 1.5
		return
	}
	if p.Y.Min > 0 {
		p.Y.Min = 0
	}
	p.Y.Max += 0.08 * (p.Y.Max - p.Y.Min)
	if p.Y.Max == p.Y.Min {
		p.Y.Max = p.Y.Min + 1
	}
}

// niceTicks labels 4–8 round steps (1, 2 or 5 × 10^n) with no spurious decimals;
// gonum's default can leave a padded axis with only two labels.
type niceTicks struct{}

func (niceTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) {
		return []plot.Tick{{Value: min, Label: strconv.FormatFloat(min, 'g', 6, 64)}}
	}
	raw := (max - min) / 8
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ts []plot.Tick
	for v := math.Ceil(min/step) * step; v <= max+step*1e-9; v += step {
		v := math.Round(v/step) * step // keep 0.30000000000000004 off the axis
		if v == 0 {
			v = 0 // and "-0"
		}
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 6, 64)})
		if minor := v + step/2; minor < max {
			ts = append(ts, plot.Tick{Value: minor})
		}
	}
	return ts
}

// logTicks labels 1-2-5 steps when the data spans less than two decades (gonum's
// LogTicks labels only powers of ten, leaving a narrow chart with one label).
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= min {
		return nil
	}
	labelled := []float64{1, 2, 5}
	if max/min >= 100 {
		labelled = []float64{1}
	}
	var ts []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		base := math.Pow(10, e)
		for m := 1.0; m < 10; m++ {
			v := m * base
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if slices.Contains(labelled, m) {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// ninesTicks labels the nines axis in percent.
type ninesTicks struct{}

func (ninesTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for n := math.Floor(min); n <= math.Ceil(max); n++ {
		if n < min-1e-9 || n > max+1e-9 {
			continue
		}
		ts = append(ts, plot.Tick{Value: n, Label: strconv.FormatFloat(Quantile(n), 'f', -1, 64) + "%"})
	}
	return ts
}

// markers draws phase boundaries and fault spans across the whole data area.
type markers struct {
	ms   []Marker
	text draw.TextStyle
}

var (
	phaseColor     = color.RGBA{R: 90, G: 90, B: 90, A: 255}
	faultColor     = color.RGBA{R: 200, G: 30, B: 30, A: 255}
	faultSpanColor = color.NRGBA{R: 200, G: 30, B: 30, A: 40}
)

func (m markers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	ts := m.text
	ts.Font.Size = vg.Points(8)
	for _, mk := range m.ms {
		if mk.AtS < p.X.Min || mk.AtS > p.X.Max {
			continue
		}
		x := trX(mk.AtS)
		ls := draw.LineStyle{Color: phaseColor, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
		ts.Color = phaseColor
		y := c.Max.Y - vg.Points(10)
		if mk.Kind == MarkerFault {
			ls.Color, ls.Dashes = faultColor, nil
			ts.Color = faultColor
			y = c.Max.Y - vg.Points(22)
			if mk.EndS > mk.AtS {
				x1 := trX(math.Min(mk.EndS, p.X.Max))
				c.FillPolygon(faultSpanColor, []vg.Point{{X: x, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x, Y: c.Max.Y}})
			}
		}
		c.StrokeLine2(ls, x, c.Min.Y, x, c.Max.Y)
		c.FillText(ts, vg.Point{X: x + vg.Points(2), Y: y}, mk.Label)
	}
}
