package experiment

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/citybench/citybench/scenarios"
)

func TestLoad(t *testing.T) {
	e, err := Load(filepath.Join("testdata", "tiny"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Cells() != 2 || e.Subject.Stage != "store" || e.Subject.Metric != "rate" || e.Published != "paper" {
		t.Errorf("loaded %+v", e)
	}
	if got := e.ScenarioPath(e.Rows[0].Cells["qos1"]); got != filepath.Join("testdata", "tiny", "burst-qos1.yaml") {
		t.Errorf("scenario path %s", got)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		dir  string
		want []string
	}{
		{"bad", []string{
			"experiment.yaml:8: rows[0].cells.a.scenario: scenario \"missing.yaml\" not found",
			"experiment.yaml:8: rows[0].cells.b: no column \"b\"",
			"ratios[0]: ratio \"a/c\" compares columns \"a\" and \"c\"",
		}},
		{"unknown", []string{"experiment.yaml:5: field colums not found"}},
		{"nowhere", []string{"read experiment"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.dir))
			if err == nil {
				t.Fatal("loaded, want errors")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	exps, err := List(filepath.Join("..", "experiments"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range exps {
		names[e.Name] = true
		if filepath.Base(e.Dir) != e.Name {
			t.Errorf("experiment %q lives in folder %s", e.Name, e.Dir)
		}
		for _, r := range e.Rows {
			for col, c := range r.Cells {
				if _, err := scenarios.Load(e.ScenarioPath(c)); err != nil {
					t.Errorf("%s row %s column %s: %v", e.Name, r.Name, col, err)
				}
			}
		}
	}
	if !names["table1"] {
		t.Errorf("catalog %v lacks table1", names)
	}
}
