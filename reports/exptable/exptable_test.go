package exptable_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports/exptable"
	"github.com/citybench/citybench/scenarios/experiment"
)

func TestBuildAndWrite(t *testing.T) {
	e, err := experiment.Load(filepath.Join("..", "..", "scenarios", "experiment", "testdata", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	runs := []exptable.Run{
		{Row: "2x50", Column: "qos1", Repeat: 1, Value: 40, OK: true},
		{Row: "2x50", Column: "qos1", Repeat: 2, Value: 60, OK: true},
		{Row: "2x50", Column: "qos1", Repeat: 3, Value: 50, OK: true},
		{Row: "2x50", Column: "qos0", Repeat: 1, Value: 70, OK: true},
		{Row: "2x50", Column: "qos0", Repeat: 2, OK: false, Note: "no rate"},
	}
	tb := exptable.Build(e, runs)
	tb.Target, tb.Repeats = "embedded", 3
	q1, q0 := tb.Rows[0].Cells[0], tb.Rows[0].Cells[1]
	if q1.Median != 50 || q1.Min != 40 || q1.Max != 60 || q1.Ratio == nil || *q1.Ratio != 0.5 {
		t.Errorf("qos1 cell %+v: want median 50 (40–60), ratio 0.5 of the paper's 100", q1)
	}
	if q0.Median != 70 || q0.Failed != 1 || q0.Ratio != nil {
		t.Errorf("qos0 cell %+v: want 70 from one run, one failed, no paper figure", q0)
	}
	if r := tb.Ratios[0].Rows[0]; r.Ours == nil || *r.Ours != 70.0/50 || r.Paper != nil {
		t.Errorf("ratio row %+v: want ours 1.4, no per-row paper ratio", r)
	}
	dir := t.TempDir()
	if err := exptable.Write(dir, tb); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{exptable.MarkdownFile, exptable.CSVFile, exptable.JSONFile, "table.png", "table.svg"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	md := exptable.Markdown(tb)
	for _, want := range []string{"| 2 × 50 | 50.0 (40.0–60.0) | 100 | 0.5 | 70.0 [1 failed] | — | — |", "**QoS 0 / QoS 1** (paper: 1.4)"} {
		if !strings.Contains(md, want) {
			t.Errorf("table.md lacks %q:\n%s", want, md)
		}
	}
	csv, _ := os.ReadFile(filepath.Join(dir, exptable.CSVFile))
	if !strings.Contains(string(csv), "2x50,qos1,burst-qos1.yaml,store.rate,msgs/s,3,0,50,40,60,100,0.5") {
		t.Errorf("table.csv:\n%s", csv)
	}
}

func TestChartGoesRelativeWhenScalesDiffer(t *testing.T) {
	e, err := experiment.Load(filepath.Join("..", "..", "scenarios", "experiment", "testdata", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		ours      float64
		wantBars  int // ours and paper for qos1, ours for qos0 (absolute); qos1 pair only (relative)
		wantFirst float64
	}{
		{"same scale", 50, 3, 50},
		{"a hundredfold apart", 10000, 2, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := exptable.Chart(exptable.Build(e, []exptable.Run{
				{Row: "2x50", Column: "qos1", Value: tt.ours, OK: true},
				{Row: "2x50", Column: "qos0", Value: 70, OK: true},
			}))
			if len(c.Bars) != tt.wantBars || c.Bars[0].Values[0] != tt.wantFirst {
				t.Errorf("bars %+v: want %d groups, first %v", c.Bars, tt.wantBars, tt.wantFirst)
			}
		})
	}
}

func TestMixedChartDrawsRowsWithAPublishedFigure(t *testing.T) {
	e, err := experiment.Load(filepath.Join("..", "..", "scenarios", "experiments", "building-network"))
	if err != nil {
		t.Fatal(err)
	}
	var runs []exptable.Run
	for _, r := range e.Rows {
		for col := range r.Cells {
			runs = append(runs, exptable.Run{Row: r.Name, Column: col, Value: 600, OK: true})
		}
	}
	c := exptable.Chart(exptable.Build(e, runs))
	if !slices.Equal(c.Categories, []string{"rate", "wire"}) {
		t.Errorf("categories %v: want only the rows with an arithmetic figure", c.Categories)
	}
	if got := c.Bars[0].Values; got[0] != 2 || got[1] != 600.0/34 { // protobuf ours / arithmetic
		t.Errorf("protobuf bars %v: want ours / arithmetic", got)
	}
}
