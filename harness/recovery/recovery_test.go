package recovery

import (
	"testing"
	"time"

	"github.com/citybench/citybench/reports/result"
)

// series builds a result with one stage from per-second (delivered, p50 ms,
// lost) triples; 100 messages are due each second.
func series(secs [][3]int64) *result.Result {
	r := &result.Result{Stages: []result.StageSummary{{Stage: "store"}}}
	for i, s := range secs {
		onTime := s[0]
		if s[1] > 5000 {
			onTime = 0
		}
		r.Intervals = append(r.Intervals, result.Interval{StartS: float64(i), Stages: map[string]result.IntervalStage{
			"store": {Delivered: s[0], P50Us: s[1] * 1000, Expected: 100, Lost: s[2], OnTime: min(onTime, 100-s[2])},
		}})
	}
	return r
}

func repeat(n int, v [3]int64) [][3]int64 {
	out := make([][3]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestAnalyse(t *testing.T) {
	healthy := [3]int64{100, 50, 0}
	tests := []struct {
		name                string
		secs                [][3]int64
		at, end             float64
		impacted, recovered bool
		recovery, unavail   float64
		lost                int64
	}{
		{"no impact", repeat(30, healthy), 12, 17, false, true, 0, 0, 0},
		{"dark for 5 s then a slow catch-up",
			append(append(append(repeat(12, healthy), repeat(5, [3]int64{0, 0, 0})...), repeat(3, [3]int64{300, 6000, 0})...), repeat(10, healthy)...),
			12, 17, true, true, 8, 5, 0}, // catch-up seconds deliver fresh readings on time too
		{"losses inside the window", append(append(repeat(12, healthy), repeat(2, [3]int64{0, 0, 40})...), repeat(16, healthy)...), 12.2, 14, true, true, 1.8, 2, 80},
		{"never recovers", append(repeat(12, healthy), repeat(18, [3]int64{0, 0, 0})...), 12, 17, true, false, 18, 18, 0},
		{"noise inside the band", append(append(repeat(12, healthy), repeat(3, [3]int64{100, 140, 0})...), repeat(15, healthy)...), 12, 17, false, true, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := series(tt.secs)
			r.Faults = []result.FaultEvent{{AtS: tt.at, EndS: tt.end, Kind: "kill", Target: "kafka-2"}}
			Analyse(r, 5*time.Second)
			if len(r.Faults[0].Stages) != 1 {
				t.Fatalf("stages %+v", r.Faults[0].Stages)
			}
			im := r.Faults[0].Stages[0]
			if im.BaselineP50Us != 50_000 || im.ThresholdUs != 150_000 {
				t.Errorf("baseline %d threshold %d, want 50ms and 150ms", im.BaselineP50Us, im.ThresholdUs)
			}
			if im.Impacted != tt.impacted || im.Recovered != tt.recovered {
				t.Errorf("impacted %v recovered %v, want %v %v", im.Impacted, im.Recovered, tt.impacted, tt.recovered)
			}
			if d := im.RecoveryS - tt.recovery; d > 1e-9 || d < -1e-9 {
				t.Errorf("recovery %.2fs, want %.2fs", im.RecoveryS, tt.recovery)
			}
			if im.UnavailableS != tt.unavail || im.Lost != tt.lost {
				t.Errorf("unavailable %.0fs lost %d, want %.0fs %d", im.UnavailableS, im.Lost, tt.unavail, tt.lost)
			}
		})
	}
}

func TestFailedFaultHasNoFigures(t *testing.T) {
	r := series(repeat(20, [3]int64{100, 50, 0}))
	r.Faults = []result.FaultEvent{{AtS: 5, Kind: "kill", Target: "kafka-2", Error: "no such container"}}
	Analyse(r, 5*time.Second)
	if len(r.Faults[0].Stages) != 0 {
		t.Fatalf("a fault that was not performed got figures: %+v", r.Faults[0].Stages)
	}
}
