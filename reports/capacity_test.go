package reports_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports"
	"github.com/citybench/citybench/reports/plots"
	"github.com/citybench/citybench/reports/result"
)

// capacityFixture is a search on a pipeline whose store stage falls behind above 2,000 msgs/s.
func capacityFixture() *result.Capacity {
	step := func(i int, kind string, rate float64, pass bool, backlog float64, p99 int64, cassandraCPU float64) result.StepEntry {
		return result.StepEntry{Index: i, Kind: kind, Rate: rate, OfferedRate: rate, DeliveredRate: rate - backlog, HoldS: 10, Devices: 200, Pass: pass,
			Stages: []result.StepStage{
				{Stage: "sent", DeliveredRate: rate, DeliveredPct: 100},
				{Stage: "kafka", DeliveredRate: rate, DeliveredPct: 100, P50Us: 4000, P99Us: 9000},
				{Stage: "store", DeliveredRate: rate - backlog, DeliveredPct: 100, P50Us: p99 / 4, P99Us: p99, BacklogSlope: backlog},
			},
			Resources: []result.ComponentUse{
				{Component: "cassandra-1", CPUMean: cassandraCPU, CPUMax: cassandraCPU + 5, CPULimit: 200, MemoryPeak: 2 << 30},
				{Component: "sink-1", CPUMean: rate / 100, CPUMax: rate / 80, CPULimit: 200, MemoryPeak: 40 << 20},
			},
			ResultFile: "steps/x/result.json",
		}
	}
	return &result.Capacity{
		SchemaVersion: result.CapacitySchemaVersion, Scenario: "smoke", Target: result.Target{Kind: "containers"},
		By: "rate", BaseRate: 200, MaxSustainableRate: 1900, Confirmed: true, Confidence: result.Bracket{Pass: 1900, Fail: 2000},
		Stopped: "converged", Criteria: []string{"every SLO of the scenario passes"},
		Bottleneck: result.Bottleneck{Component: "cassandra-1", Stage: "store", Evidence: []string{"store backlog +800 msgs/s at 3200 msgs/s offered"}},
		Steps: []result.StepEntry{
			step(1, "settle", 200, true, 0, 30000, 10), step(2, "bracket", 400, true, 0, 32000, 20),
			step(3, "bracket", 800, true, 0, 35000, 45), step(4, "bracket", 1600, true, 0, 60000, 110),
			step(5, "bracket", 3200, false, 800, 4000000, 195), step(6, "bisect", 2400, false, 300, 2000000, 190),
			step(7, "bisect", 2000, false, 60, 900000, 185), step(8, "bisect", 1800, true, 0, 90000, 150),
			step(9, "bisect", 1900, true, 0, 120000, 165), step(10, "confirm", 1900, true, 0, 130000, 166),
		},
		City: []result.CityFleet{{Fleet: "env", ScenarioDevices: 200, MsgsPerDeviceS: 1, ShareOfLoad: 1, Devices: 1900,
			AtIntervals: []result.IntervalDevices{{Interval: "1m0s", Devices: 114000}}}},
		Storage: &result.Storage{BytesPerReading: 61.5, Method: "measured: system.size_estimates", Rows: 100000, Bytes: 6150000,
			ReplicationFactor: 1, Rate: 1900, PerDayBytes: 61.5 * 1900 * 86400, PerYearBytes: 365 * 61.5 * 1900 * 86400},
	}
}

func TestCapacityCharts(t *testing.T) {
	c := capacityFixture()
	hs := plots.HockeyStick(c)
	var storeP99 plots.Series
	for _, l := range hs.Lines {
		if l.Label == "store p99" {
			storeP99 = l
		}
	}
	if len(storeP99.Points) != len(c.Steps) {
		t.Fatalf("store p99 has %d points, want one per step (%d)", len(storeP99.Points), len(c.Steps))
	}
	for i := 1; i < len(storeP99.Points); i++ {
		if storeP99.Points[i].X < storeP99.Points[i-1].X {
			t.Fatalf("hockey stick not ordered by offered rate: %+v", storeP99.Points)
		}
	}
	if last := storeP99.Points[len(storeP99.Points)-1]; last.X != 3200 || last.Y != 4000 {
		t.Errorf("last point %+v, want 3200 msgs/s at 4000 ms", last)
	}
	cpu := plots.CPUVsOffered(c)
	if len(cpu.Lines) != 2 || cpu.Lines[0].Label != "cassandra-1" || cpu.Lines[0].Points[len(c.Steps)-1].Y != 195 {
		t.Errorf("CPU chart %+v, want cassandra-1 reaching 195 %% at the top rate", cpu.Lines)
	}
}

func TestCapacityReportInBrowser(t *testing.T) {
	browser := chromiumOrSkip(t)
	dir := t.TempDir()
	c := capacityFixture()
	if err := c.Save(filepath.Join(dir, "capacity.json")); err != nil {
		t.Fatal(err)
	}
	if err := reports.RenderCapacity(context.Background(), c, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"capacity-latency.svg", "capacity-delivered.png", "capacity-cpu.png", "capacity-backlog.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	text := checkInBrowser(t, browser, filepath.Join(dir, "index.html"), 4,
		`[document.getElementById("answer").innerText, document.getElementById("bottleneck").innerText,
		  document.querySelectorAll("#steps tr").length - 1, document.getElementById("city").innerText,
		  document.getElementById("storage").innerText].join("\n")`)
	for _, want := range []string{"1900 msgs/s", "cassandra-1", "\n10\n", "114000", "61.5 B"} {
		if !strings.Contains(text, want) {
			t.Errorf("page text lacks %q:\n%s", want, text)
		}
	}
}
