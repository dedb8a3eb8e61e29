package bench

import (
	"fmt"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteCharts draws one PNG per workload that has latency results: grouped bars of p50, p90,
// p99 and p99.9 in milliseconds, one bar per target. It returns the file names by workload.
func (r *Report) WriteCharts(dir string) (map[string]string, error) {
	charts := make(map[string]string)
	for _, w := range r.Workloads {
		var names []string
		for _, t := range r.Targets {
			if _, ok := w.Latency[t.Name]; ok {
				names = append(names, t.Name)
			}
		}
		if len(names) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s: latency at %.0f req/s", w.Workload.Name, w.Rate)
		p.Y.Label.Text = "ms"
		labels := make([]string, len(percentiles))
		for i, pc := range percentiles {
			labels[i] = pc.label
		}
		p.NominalX(labels...)
		width := vg.Points(100 / float64(len(names)))
		for i, name := range names {
			res := w.Latency[name]
			values := make(plotter.Values, len(percentiles))
			for j, pc := range percentiles {
				values[j] = float64(res.Percentile(pc.p).Microseconds()) / 1000
			}
			bars, err := plotter.NewBarChart(values, width)
			if err != nil {
				return nil, fmt.Errorf("bench: chart %s: %w", w.Workload.Name, err)
			}
			bars.LineStyle.Width = 0
			bars.Color = plotutil.Color(i)
			bars.Offset = width * vg.Length(float64(i)-float64(len(names)-1)/2)
			p.Add(bars)
			p.Legend.Add(name, bars)
		}
		p.Legend.Top = true
		p.Legend.Left = true
		name := "latency-" + w.Workload.Name + ".png"
		if err := p.Save(8*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("bench: chart %s: %w", w.Workload.Name, err)
		}
		charts[w.Workload.Name] = name
	}
	return charts, nil
}
