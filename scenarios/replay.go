package scenarios

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/citybench/citybench/scenarios/replay"
)

// Replay plays recorded data (US-EPA daily air-quality layout) through a fleet:
// device i is the file's i-th site (in order of first appearance), each sensor's
// metric is a pollutant column Mean_Concentration_AirPollutant_<metric>, and a
// row dated D is sent at offset (D − the file's first date) / Speedup. A missing
// day sends nothing and an empty cell leaves that metric out of the reading
// (a row with every metric empty sends nothing): both are counted in the result,
// never filled in.
type Replay struct {
	// File is the CSV, relative to the scenario file's directory.
	File string `yaml:"file"`
	// Speedup is how many recorded seconds pass per run second: 86400 plays one
	// day a second.
	Speedup float64 `yaml:"speedup"`

	// Data is the file's content, read when the scenario is validated.
	Data *replay.Data `yaml:"-"`
}

// Interval is the run time between two consecutive days of the recording.
func (r *Replay) Interval() time.Duration {
	return time.Duration(float64(replay.Day) / r.Speedup)
}

// replayPath is file resolved against the scenario file's directory.
func (s *Scenario) replayPath(file string) string {
	if filepath.IsAbs(file) || s.File == "" {
		return file
	}
	return filepath.Join(filepath.Dir(s.File), file)
}

// replayFleet checks a replay fleet and reads its file.
func (v *validator) replayFleet(p string, f *Fleet) {
	r := f.Replay
	rp := p + ".replay"
	if r.File == "" {
		v.add(rp+".file", "file is required (a CSV in the US-EPA daily air-quality layout)")
	}
	if !(r.Speedup >= 1) || math.IsInf(r.Speedup, 0) {
		v.add(rp+".speedup", "must be a number ≥ 1 (recorded seconds per run second; 86400 plays a day a second), got %v", r.Speedup)
	} else if r.Interval() < time.Millisecond {
		v.add(rp+".speedup", "speedup %v plays a day in %s; keep it under %v so a day takes at least 1ms", r.Speedup, r.Interval(), float64(replay.Day/time.Millisecond))
	}
	if v.s.has(p + ".arrival") {
		v.add(p+".arrival", "a replay fleet sends when its recording says: drop arrival")
	}
	if f.Severity != nil {
		v.add(p+".severity", "a replay fleet's sampling follows its recording: severity modes do not apply")
	}
	pollutants := make([]string, len(f.Sensors))
	for i, sn := range f.Sensors {
		sp := fmt.Sprintf("%s.sensors[%d]", p, i)
		pollutants[i] = sn.Metric
		for _, field := range []string{"mean", "stddev", "min", "max"} {
			if v.s.has(sp + "." + field) {
				v.add(sp+"."+field, "a replayed metric takes its values from the file: drop %s", field)
			}
		}
	}
	for i, ph := range v.s.Phases {
		if ph.RateFactor != DefaultRateFactor || ph.ActiveFraction != DefaultActiveFraction {
			v.add(fmt.Sprintf("phases[%d]", i), "fleet %s replays a recording on its own time line: rate_factor and active_fraction do not apply", f.Name)
		}
	}
	if r.File == "" {
		return
	}
	data, err := replay.Load(v.s.replayPath(r.File), pollutants)
	if err != nil {
		v.add(rp+".file", "%v", err) // a replay.Error names the CSV's line and column
		return
	}
	if f.Devices > len(data.Sites) {
		v.add(p+".devices", "%d devices but %s has %d sites: one device replays one site", f.Devices, r.File, len(data.Sites))
	}
	r.Data = data
}
