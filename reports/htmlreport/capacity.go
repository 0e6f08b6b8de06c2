package htmlreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"

	"github.com/citybench/citybench/reports/result"
)

//go:embed capacity.html.tmpl
var capacityTemplate string

var capacityTmpl = template.Must(template.New("capacity").Funcs(funcs).Funcs(capacityFuncs).Parse(capacityTemplate))

var capacityFuncs = template.FuncMap{
	"rate":  func(f float64) string { return fmt.Sprintf("%.0f", f) },
	"pct1":  func(f float64) string { return fmt.Sprintf("%.1f %%", f) },
	"share": func(f float64) string { return fmt.Sprintf("%.1f %%", 100*f) },
	"size":  HumanBytes,
	"sizei": func(b int64) string { return HumanBytes(float64(b)) },
	"stage": func(s result.StepEntry, name string) *result.StepStage { return stepStage(s, name) },
}

type capacityView struct {
	C      *result.Capacity
	Page   Page
	Title  string
	Stages []string
}

// WriteCapacity renders the capacity page for c: the answer, the bottleneck
// with its evidence, city and storage sizing, every step and the charts.
func WriteCapacity(w io.Writer, c *result.Capacity, p Page) error {
	v := capacityView{C: c, Page: p, Title: fmt.Sprintf("citybench capacity — %s on %s", orDash(c.Scenario), orDash(c.Target.Kind))}
	for _, name := range result.Stages {
		if name == result.StageSent || name == result.StageAPI {
			continue // the reference, and a sample judged by its SLOs: not columns of the table
		}
		for _, s := range c.Steps {
			if stepStage(s, name) != nil {
				v.Stages = append(v.Stages, name)
				break
			}
		}
	}
	if err := capacityTmpl.Execute(w, v); err != nil {
		return fmt.Errorf("render capacity index.html: %w", err)
	}
	return nil
}

func stepStage(s result.StepEntry, name string) *result.StepStage {
	for i := range s.Stages {
		if s.Stages[i].Stage == name {
			return &s.Stages[i]
		}
	}
	return nil
}

// HumanBytes writes a byte count in binary units (B, KiB … PiB).
func HumanBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
