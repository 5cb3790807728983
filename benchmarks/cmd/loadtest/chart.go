package main

import (
	"fmt"
	"image/color"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/redisware/redisware/benchmarks/scenario"
)

// drawChart draws each implementation's median ratio to bare as one
// horizontal bar, grouped by scenario (ours first, in its own colour), with
// a line at 1 (bare net/http), into path (.svg or .png).
func drawChart(rep *report, path string) error {
	type bar struct {
		label string
		ours  bool
		ratio float64
	}
	var bars []bar
	for _, s := range scenario.All {
		rows := rep.rowsOf(s.Name)
		if s.Kind == scenario.Bare || len(rows) == 0 {
			continue
		}
		if len(bars) > 0 {
			bars = append(bars, bar{}) // a gap between scenarios
		}
		for _, rw := range rows {
			bars = append(bars, bar{label: s.Name + "  " + rw.Impl, ours: rw.Impl == scenario.ImplOurs || rw.Impl == scenario.ImplOursDirect, ratio: rw.Ratio})
		}
	}
	if len(bars) == 0 {
		return fmt.Errorf("no results to draw")
	}
	// The plot's y axis grows upwards; the first scenario goes on top.
	n := len(bars)
	ours := make(plotter.Values, n)
	peers := make(plotter.Values, n)
	labels := make([]string, n)
	var xys plotter.XYs
	var texts []string
	maxRatio := 1.0
	for i, b := range bars {
		y := n - 1 - i
		labels[y] = b.label
		if b.label == "" {
			continue
		}
		if b.ours {
			ours[y] = b.ratio
		} else {
			peers[y] = b.ratio
		}
		xys = append(xys, plotter.XY{X: b.ratio, Y: float64(y)})
		texts = append(texts, " "+strconv.FormatFloat(b.ratio, 'f', 2, 64))
		maxRatio = max(maxRatio, b.ratio)
	}

	p := plot.New()
	p.Title.Text = fmt.Sprintf("Throughput ÷ bare net/http, median of %d rounds (wrk -t%d -c%d, %d cores)",
		rep.Params.Rounds, rep.Params.Threads, rep.Params.Conns, rep.Machine.NProc)
	p.X.Label.Text = "ratio to a bare net/http handler in the same round (higher is better)"
	p.X.Min = 0
	p.X.Max = maxRatio * 1.12
	width := vg.Points(9)
	bo, err := plotter.NewBarChart(ours, width)
	if err != nil {
		return err
	}
	bo.Horizontal = true
	bo.Color = color.RGBA{R: 0xc0, G: 0x30, B: 0x30, A: 0xff}
	bo.LineStyle.Width = 0
	bp, err := plotter.NewBarChart(peers, width)
	if err != nil {
		return err
	}
	bp.Horizontal = true
	bp.Color = color.RGBA{R: 0x70, G: 0x80, B: 0x90, A: 0xff}
	bp.LineStyle.Width = 0
	one, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: float64(n) - 0.5}})
	if err != nil {
		return err
	}
	one.LineStyle.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	one.LineStyle.Color = color.Black
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return err
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font.Size = vg.Points(7)
		lb.TextStyle[i].YAlign = draw.YCenter
	}
	p.Add(plotter.NewGrid(), bo, bp, one, lb)
	p.Legend.Add("redisware", bo)
	p.Legend.Add("Go peers", bp)
	p.Legend.Add("bare net/http = 1", one)
	p.Legend.Top = true
	p.NominalY(labels...)
	p.Y.Tick.Label.Font.Size = vg.Points(8)
	h := vg.Points(float64(n)*13 + 90)
	return p.Save(9*vg.Inch, h, path)
}
