// Package htmlreport writes a run's index.html: one self-contained page (charts
// inlined as data: URIs, no scripts, no network) that opens from file://.
package htmlreport

import (
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/citybench/citybench/reports/result"
)

// Chart is one rendered chart for the page.
type Chart struct {
	Name  string // file stem; Name.svg is linked next to the page
	Title string
	PNG   []byte
}

// Page is what the template shows beyond the result itself.
type Page struct {
	Charts []Chart
	Files  []string // exported files next to index.html, linked relatively
	// Problems are things that went wrong while building the report (e.g. an undecodable histogram).
	Problems []string
}

//go:embed index.html.tmpl
var pageTemplate string

// funcs are the helpers every page template uses.
var funcs = template.FuncMap{
	"us":    result.FormatUs,
	"value": result.FormatValue,
	"pct":   func(f float64) string { return fmt.Sprintf("%.3f %%", 100*f) },
	"ratio": ratioPct,
	"bytes": bytesString,
	"dataURI": func(png []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	},
	"ts": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"sortedKeys": func(m map[string]string) []string {
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	},
	"sortedCounters": func(m map[string]int64) []string {
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	},
	"join":  strings.Join,
	"ints":  func(q []int) string { return strings.Trim(fmt.Sprint(q), "[]") },
	"float": func(f float64) string { return trimFloat(f) },
	"sub":   func(a, b float64) float64 { return a - b },
}

var tmpl = template.Must(template.New("index").Funcs(funcs).Parse(pageTemplate))

type view struct {
	R          *result.Result
	Page       Page
	Title      string
	Partial    bool
	Saturated  bool
	Embedded   bool
	ClosedLoop bool
	SLOFailed  int
	LagBoundUs int64
}

// Write renders the page for r.
func Write(w io.Writer, r *result.Result, p Page) error {
	v := view{
		R: r, Page: p,
		Title:      fmt.Sprintf("citybench — %s on %s", orDash(r.Meta.Scenario), orDash(r.Meta.Target.Kind)),
		Partial:    r.HasFlag(result.FlagPartial),
		Saturated:  r.HasFlag(result.FlagGeneratorSaturated),
		Embedded:   r.HasFlag(result.FlagEmbedded) || r.Meta.Target.Kind == "embedded",
		ClosedLoop: r.HasFlag(result.FlagClosedLoop),
	}
	for _, s := range r.SLOs {
		if !s.Pass {
			v.SLOFailed++
		}
	}
	if err := tmpl.Execute(w, v); err != nil {
		return fmt.Errorf("render index.html: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func trimFloat(f float64) string {
	switch {
	case math.Abs(f) >= 100:
		return fmt.Sprintf("%.0f", f)
	case math.Abs(f) >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.3g", f)
	}
}

func ratioPct(num, den int64) string {
	if den == 0 {
		return "—"
	}
	return fmt.Sprintf("%.3f %%", 100*float64(num)/float64(den))
}

func bytesString(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}
