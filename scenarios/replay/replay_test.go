package replay

import (
	"math"
	"strings"
	"testing"
)

// The fixtures are constructed for the parser's edge cases (real data is in
// ../data/epa-sample.csv): site A misses 2021-01-02 and 2021-01-04, and has an
// empty SO2 cell.
const header = "Date,Site_Number,Site_Name,Site_Location,Mean_Concentration_AirPollutant_Ozone,Mean_Concentration_AirPollutant_SO2\n"

func TestReadCountsGapsAndEmptyCells(t *testing.T) {
	d, err := Read("gaps.csv", strings.NewReader(header+
		"2021-01-05,A,a,[latLong 1 2],0.05,1\n"+
		"2021-01-01,A,a,[latLong 1 2],0.01,\n"+
		"2021-01-03,A,a,[latLong 1 2],0.03,3\n"+
		"2021-01-02,B,b,[latLong 3 4],0.02,2\n"), []string{"Ozone", "SO2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Sites) != 2 || d.Sites[0].Number != "A" || d.Sites[1].Number != "B" {
		t.Fatalf("sites %+v, want A then B (order of first appearance)", d.Sites)
	}
	a := d.Sites[0]
	if got := []float64{a.Rows[0].Values[0], a.Rows[1].Values[0], a.Rows[2].Values[0]}; got[0] != 0.01 || got[1] != 0.03 || got[2] != 0.05 {
		t.Errorf("site A ozone in date order = %v, want [0.01 0.03 0.05]", got)
	}
	if !math.IsNaN(a.Rows[0].Values[1]) {
		t.Errorf("empty SO2 cell read as %v, want NaN (absent)", a.Rows[0].Values[1])
	}
	if a.MissingDays != 2 || d.MissingDays() != 2 {
		t.Errorf("missing days: site A %d, file %d; want 2 (Jan 2 and 4)", a.MissingDays, d.MissingDays())
	}
	if d.EmptyCells != 1 {
		t.Errorf("empty cells %d, want 1", d.EmptyCells)
	}
	if d.First.Format(DateLayout) != "2021-01-01" {
		t.Errorf("first date %s, want 2021-01-01", d.First.Format(DateLayout))
	}
}

func TestReadNamesLineAndColumn(t *testing.T) {
	for _, tc := range []struct {
		name, csv  string
		pollutants []string
		want       string
	}{
		{"missing column", header + "2021-01-01,A,a,x,1,2\n", []string{"PM2.5"}, "gaps.csv:1: column Mean_Concentration_AirPollutant_PM2.5: missing from the header (pollutant columns present: Ozone, SO2)"},
		{"bad date", header + "2021-01-01,A,a,x,1,2\n01/02/2021,A,a,x,1,2\n", []string{"Ozone"}, "gaps.csv:3: column Date: want YYYY-MM-DD"},
		{"bad number", header + "2021-01-01,A,a,x,one,2\n", []string{"Ozone"}, `gaps.csv:2: column Mean_Concentration_AirPollutant_Ozone: not a finite number: "one"`},
		{"day twice", header + "2021-01-01,A,a,x,1,2\n2021-01-01,A,a,x,1,2\n", []string{"Ozone"}, "gaps.csv:3: column Date: site A has 2021-01-01 twice (also line 2)"},
		{"no site", header + "2021-01-01,,a,x,1,2\n", []string{"Ozone"}, "gaps.csv:2: column Site_Number: empty"},
		{"no rows", header, []string{"Ozone"}, "gaps.csv:2: no data rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read("gaps.csv", strings.NewReader(tc.csv), tc.pollutants)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadTheCommittedSample(t *testing.T) {
	d, err := Load("../data/epa-sample.csv", []string{"Ozone", "SO2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Sites) != 3 || d.MissingDays() != 0 || d.EmptyCells != 14 || len(d.SHA256) != 64 {
		t.Fatalf("sample: %d sites, %d missing days, %d empty cells, sha %q; want 3, 0, 14 (Sand Mountain has no SO2)", len(d.Sites), d.MissingDays(), d.EmptyCells, d.SHA256)
	}
}
