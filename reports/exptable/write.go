package exptable

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/citybench/citybench/reports/plots"
)

// Write writes table.md, table.csv, experiment.json and the chart into dir.
func Write(dir string, t *Table) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("experiment output: %w", err)
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", JSONFile, err)
	}
	if err := os.WriteFile(filepath.Join(dir, JSONFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, MarkdownFile), []byte(Markdown(t)), 0o644); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, CSVFile), t); err != nil {
		return err
	}
	c := Chart(t)
	for _, format := range []string{"png", "svg"} {
		img, err := plots.Render(c, format)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, ChartName+"."+format), img, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (c Cell) ours() string {
	if len(c.Values) == 0 {
		return "—"
	}
	if len(c.Values) == 1 {
		return num(c.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", num(c.Median), num(c.Min), num(c.Max))
}

func opt(f *float64) string {
	if f == nil {
		return "—"
	}
	return num(*f)
}

// Markdown is table.md: ours beside the published figure, per cell, then the
// column comparisons.
func Markdown(t *Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", t.Title)
	fmt.Fprintf(&b, "Source: %s\n\n", t.Source)
	fmt.Fprintf(&b, "Measure: `%s` (%s) on the **%s** target, median (min–max) of %d repeat(s); %s = the published figure; ratio = ours / %s.\n\n",
		t.Measure, t.Unit, t.Target, t.Repeats, t.Published, t.Published)
	mixed := t.Mixed()
	b.WriteString("| row |")
	if mixed {
		b.WriteString(" measure |")
	}
	for _, c := range t.Columns {
		fmt.Fprintf(&b, " %s ours | %s %s | ratio |", c.Label, c.Label, t.Published)
	}
	b.WriteString("\n|---|")
	if mixed {
		b.WriteString("---|")
	}
	b.WriteString(strings.Repeat("---:|---:|---:|", len(t.Columns)))
	b.WriteString("\n")
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s |", r.Label)
		if mixed {
			fmt.Fprintf(&b, " `%s` (%s) |", r.Measure, r.Unit)
		}
		for _, col := range t.Columns {
			c, ok := r.cell(col.Name)
			if !ok {
				b.WriteString(" | | |")
				continue
			}
			failed := ""
			if c.Failed > 0 {
				failed = fmt.Sprintf(" [%d failed]", c.Failed)
			}
			fmt.Fprintf(&b, " %s%s | %s | %s |", c.ours(), failed, opt(c.Paper), opt(c.Ratio))
		}
		b.WriteString("\n")
	}
	for _, q := range t.Ratios {
		stated := "none stated"
		if q.Paper != nil {
			stated = num(*q.Paper)
		}
		fmt.Fprintf(&b, "\n**%s** (%s: %s%s)\n\n| row | ours | %s |\n|---|---:|---:|\n", q.Name, t.Published, stated, noteSuffix(q.Note), t.Published)
		for i, rr := range q.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Rows[i].Label, opt(rr.Ours), opt(rr.Paper))
		}
	}
	if t.Notes != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(t.Notes))
	}
	fmt.Fprintf(&b, "\nMachine: %s, %d cores, %s. Load average before / after: %s.\n", t.Machine.CPUModel, t.Machine.Cores, t.Machine.OS, strings.Join(t.LoadAverage, " / "))
	return b.String()
}

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return " — " + n
}

// scalesApart reports whether ours and the published figures differ by more
// than tenfold, where bars of both on one linear axis would hide the smaller.
func (t *Table) scalesApart() bool {
	var ours, paper float64
	for _, r := range t.Rows {
		for _, c := range r.Cells {
			ours = max(ours, c.Median)
			if c.Paper != nil {
				paper = max(paper, *c.Paper)
			}
		}
	}
	return paper > 0 && (ours > 10*paper || paper > 10*ours)
}

func (r Row) cell(col string) (Cell, bool) {
	for _, c := range r.Cells {
		if c.Column == col {
			return c, true
		}
	}
	return Cell{}, false
}

func writeCSV(path string, t *Table) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"row", "column", "scenario", "measure", "unit", "repeats", "failed", "median", "min", "max", t.Published, "ratio"})
	for _, r := range t.Rows {
		for _, c := range r.Cells {
			rec := []string{r.Name, c.Column, c.Scenario, r.Measure, r.Unit, fmt.Sprint(len(c.Values)), fmt.Sprint(c.Failed), "", "", "", csvOpt(c.Paper), csvOpt(c.Ratio)}
			if len(c.Values) > 0 {
				rec[7], rec[8], rec[9] = fmt.Sprint(c.Median), fmt.Sprint(c.Min), fmt.Sprint(c.Max)
			}
			_ = w.Write(rec)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

func csvOpt(f *float64) string {
	if f == nil {
		return ""
	}
	return fmt.Sprint(*f)
}

// Chart draws ours and the published figure side by side per row, one pair of
// bars per column.
func Chart(t *Table) plots.Chart {
	c := plots.Chart{Name: ChartName, Title: t.Title, XLabel: "row", YLabel: fmt.Sprintf("%s (%s)", t.Measure, t.Unit), X: plots.XCategory}
	relative := t.Mixed() || t.scalesApart()
	if relative {
		// One axis cannot carry several units, nor show 70 beside 7,000: each
		// cell is then drawn as ours / published, the published figure as 1.
		c.YLabel = fmt.Sprintf("%s: ours / %s", t.Measure, t.Published)
		if t.Mixed() {
			c.YLabel = "ours / " + t.Published
		}
	}
	rows := t.Rows
	if relative {
		rows = nil // a row with nothing published has nothing to be relative to
		for _, r := range t.Rows {
			if slices.ContainsFunc(r.Cells, func(c Cell) bool { return c.Ratio != nil }) {
				rows = append(rows, r)
			}
		}
	}
	for _, r := range rows {
		c.Categories = append(c.Categories, r.Name)
	}
	for _, col := range t.Columns {
		ours := plots.Bars{Label: col.Label + " ours (" + t.Target + ")"}
		paper := plots.Bars{Label: col.Label + " " + t.Published}
		anyPaper := false
		for _, r := range rows {
			cell, _ := r.cell(col.Name)
			o, v := cell.Median, 0.0
			if cell.Paper != nil {
				v, anyPaper = *cell.Paper, true
			}
			if relative {
				o, v = 0, 0
				if cell.Ratio != nil {
					o, v = *cell.Ratio, 1
				}
			}
			ours.Values = append(ours.Values, o)
			paper.Values = append(paper.Values, v)
		}
		if relative && !anyPaper {
			continue // nothing to be relative to
		}
		c.Bars = append(c.Bars, ours)
		if anyPaper {
			c.Bars = append(c.Bars, paper)
		}
	}
	return c
}
