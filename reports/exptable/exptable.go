// Package exptable turns the results of an experiment's runs into its table: our
// figure per cell (median and range over repeats) beside the published one, the
// ratio of the two, the column comparisons the source states, and a chart —
// written as table.md, table.csv, experiment.json and table.png/.svg.
package exptable

import (
	"fmt"
	"math"
	"slices"

	"github.com/citybench/citybench/reports/compare"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
	"github.com/citybench/citybench/scenarios/experiment"
)

// Files written by Write.
const (
	MarkdownFile = "table.md"
	CSVFile      = "table.csv"
	JSONFile     = "experiment.json"
	ChartName    = "table"
)

// Run is one scenario run of one cell.
type Run struct {
	Row      string   `json:"row"`
	Column   string   `json:"column"`
	Repeat   int      `json:"repeat"`
	Result   string   `json:"result"` // result.json, relative to the experiment's output folder
	Value    float64  `json:"value"`
	OK       bool     `json:"ok"` // false: the result could not show the measure (Note says why)
	Note     string   `json:"note,omitempty"`
	Flags    []string `json:"flags,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Table is experiment.json.
type Table struct {
	Experiment string         `json:"experiment"`
	Title      string         `json:"title"`
	Source     string         `json:"source"`
	Measure    string         `json:"measure"`
	Unit       string         `json:"unit"`
	Published  string         `json:"published"` // what the published column holds
	Target     string         `json:"target"`
	Repeats    int            `json:"repeats"`
	Machine    result.Machine `json:"machine"`
	// LoadAverage is /proc/loadavg before and after the runs: the box is shared.
	LoadAverage []string            `json:"load_average,omitempty"`
	Notes       string              `json:"notes,omitempty"`
	Columns     []experiment.Column `json:"columns"`
	Rows        []Row               `json:"rows"`
	Ratios      []Ratio             `json:"ratios,omitempty"`
	Runs        []Run               `json:"runs"`
}

// Row is one table row.
type Row struct {
	Name    string            `json:"name"`
	Label   string            `json:"label"`
	Measure string            `json:"measure"`
	Unit    string            `json:"unit"`
	Params  map[string]string `json:"params,omitempty"`
	Cells   []Cell            `json:"cells"`
}

// Cell is our figure beside the published one.
type Cell struct {
	Column   string    `json:"column"`
	Scenario string    `json:"scenario"`
	Values   []float64 `json:"values"` // one per repeat that could show the measure
	Failed   int       `json:"failed,omitempty"`
	Median   float64   `json:"median"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	Paper    *float64  `json:"paper,omitempty"`
	// Ratio is our median / the published figure.
	Ratio *float64 `json:"ratio,omitempty"`
}

// Ratio is one column comparison, row by row.
type Ratio struct {
	Name        string     `json:"name"`
	Numerator   string     `json:"numerator"`
	Denominator string     `json:"denominator"`
	Paper       *float64   `json:"paper,omitempty"`
	Note        string     `json:"note,omitempty"`
	Rows        []RatioRow `json:"rows"`
}

// RatioRow is a comparison in one row: of our medians, and of the published figures.
type RatioRow struct {
	Row   string   `json:"row"`
	Ours  *float64 `json:"ours,omitempty"`
	Paper *float64 `json:"paper,omitempty"`
}

// Unit is how a measure is shown: latencies in ms, the rest as the SLO unit.
func Unit(m scenarios.SLO) string {
	if m.Unit() == scenarios.UnitMicroseconds {
		return "ms"
	}
	return m.Unit()
}

// Display converts an observed figure to the unit Unit names.
func Display(m scenarios.SLO, v float64) float64 {
	if m.Unit() == scenarios.UnitMicroseconds {
		return v / 1000
	}
	return v
}

// Mixed reports whether rows read different measures (the table then says which per row).
func (t *Table) Mixed() bool {
	for _, r := range t.Rows {
		if r.Measure != t.Measure {
			return true
		}
	}
	return false
}

// Build tabulates runs (values already in their row's Unit) for e.
func Build(e *experiment.Experiment, runs []Run) *Table {
	t := &Table{Experiment: e.Name, Title: e.Title, Source: e.Source, Measure: e.Measure, Unit: Unit(e.Subject),
		Published: e.Published, Notes: e.Notes, Columns: e.Columns, Runs: runs}
	medians := map[[2]string]*float64{}
	for _, r := range e.Rows {
		row := Row{Name: r.Name, Label: r.Label, Params: r.Params, Measure: r.Subject.Expr, Unit: Unit(r.Subject)}
		for _, col := range e.ColumnNames() {
			c, ok := r.Cells[col]
			if !ok {
				continue
			}
			cell := Cell{Column: col, Scenario: c.Scenario, Paper: c.Paper}
			for _, run := range runs {
				if run.Row != r.Name || run.Column != col {
					continue
				}
				if run.OK {
					cell.Values = append(cell.Values, run.Value)
				} else {
					cell.Failed++
				}
			}
			if len(cell.Values) > 0 {
				cell.Median, cell.Min, cell.Max = compare.Median(cell.Values), slices.Min(cell.Values), slices.Max(cell.Values)
				m := cell.Median
				medians[[2]string{r.Name, col}] = &m
				if c.Paper != nil && *c.Paper != 0 {
					cell.Ratio = ptr(cell.Median / *c.Paper)
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		t.Rows = append(t.Rows, row)
	}
	for _, q := range e.Ratios {
		out := Ratio{Name: q.Name, Numerator: q.Numerator, Denominator: q.Denominator, Paper: q.Paper, Note: q.Note}
		for _, r := range e.Rows {
			rr := RatioRow{Row: r.Name}
			if n, d := medians[[2]string{r.Name, q.Numerator}], medians[[2]string{r.Name, q.Denominator}]; n != nil && d != nil && *d != 0 {
				rr.Ours = ptr(*n / *d)
			}
			n, d := r.Cells[q.Numerator].Paper, r.Cells[q.Denominator].Paper
			if n != nil && d != nil && *d != 0 {
				rr.Paper = ptr(*n / *d)
			}
			out.Rows = append(out.Rows, rr)
		}
		t.Ratios = append(t.Ratios, out)
	}
	return t
}

func ptr(f float64) *float64 { return &f }

// num formats a figure with the precision a table reader needs.
func num(f float64) string {
	switch a := math.Abs(f); {
	case a >= 100:
		return fmt.Sprintf("%.0f", f)
	case a >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.3g", f)
	}
}
