package scenarios

import (
	"strings"
	"testing"
)

// badInputFleet is a scenario whose one fleet ends at line 8; each case adds
// fleet fields from line 9 on.
const badInputFleet = `name: t
duration: 20s
fleets:
  - name: epa
    devices: 3
    topic: c/{device}
    codec: json
    qos: 1
`

func TestMalformedAndReplayValidation(t *testing.T) {
	const replayOK = "    replay: {file: data/epa-sample.csv, speedup: 86400}\n    sensors: [{metric: Ozone}, {metric: SO2}]\n"
	const sensors = "    sensors: [{metric: t, mean: 1, stddev: 1}]\n    arrival: {kind: fixed, interval: 1s}\n"
	tests := []struct {
		name, fields, extra string
		wantErr             string // "" for valid
		line                int
	}{
		{"malformed ok", sensors + "    malformed: 0.05\n    malformed_kinds: [truncated, oversize]\n", "", "", 0},
		{"malformed above 1", sensors + "    malformed: 1.5\n", "", "fleets[0].malformed: must be a fraction between 0 and 1, got 1.5", 11},
		{"negative malformed", sensors + "    malformed: -0.1\n", "", "fleets[0].malformed: must be a fraction", 11},
		{"unknown kind", sensors + "    malformed: 0.1\n    malformed_kinds: [truncated, garbled]\n", "", `fleets[0].malformed_kinds[1]: unknown malformed kind "garbled"`, 12},
		{"kind twice", sensors + "    malformed: 0.1\n    malformed_kinds: [oversize, oversize]\n", "", `malformed kind "oversize" appears twice`, 12},
		{"kinds without fraction", sensors + "    malformed_kinds: [oversize]\n", "", "fleets[0].malformed_kinds: malformed_kinds without a malformed fraction", 11},
		{"malformed SLO without malformed fleet", sensors, "slos: [\"malformed.stored == 0\"]\n", `slos[0]: "malformed.stored == 0": no fleet sends malformed messages`, 11},
		{"malformed SLO of a kind not sent", sensors + "    malformed: 0.1\n    malformed_kinds: [oversize]\n", "slos: [\"malformed.truncated.stored == 0\"]\n", "no fleet sends malformed messages of that kind", 13},
		{"unknown malformed metric", sensors + "    malformed: 0.1\n", "slos: [\"malformed.eaten == 0\"]\n", `unknown malformed metric "eaten"`, 12},
		{"replay ok", replayOK, "", "", 0},
		{"replay file missing", "    replay: {file: data/nope.csv, speedup: 86400}\n    sensors: [{metric: Ozone}]\n", "", "fleets[0].replay.file: replay: open", 9},
		{"replay column missing", "    replay: {file: data/epa-sample.csv, speedup: 86400}\n    sensors: [{metric: PM1}]\n", "", "column Mean_Concentration_AirPollutant_PM1: missing from the header", 9},
		{"replay speedup zero", "    replay: {file: data/epa-sample.csv}\n    sensors: [{metric: Ozone}]\n", "", "fleets[0].replay.speedup: must be a number ≥ 1", 9},
		{"replay with arrival", replayOK + "    arrival: {kind: fixed, interval: 1s}\n", "", "fleets[0].arrival: a replay fleet sends when its recording says", 11},
		{"replay with mean", "    replay: {file: data/epa-sample.csv, speedup: 86400}\n    sensors: [{metric: Ozone, mean: 3}]\n", "", "fleets[0].sensors[0].mean: a replayed metric takes its values from the file", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(badInputFleet+tt.fields+tt.extra))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			wantFieldError(t, err, "f.yaml", tt.wantErr, tt.line)
		})
	}
}

func TestReplayMoreDevicesThanSites(t *testing.T) {
	doc := strings.Replace(badInputFleet, "devices: 3", "devices: 4", 1) + "    replay: {file: data/epa-sample.csv, speedup: 86400}\n    sensors: [{metric: Ozone}]\n"
	_, err := Parse("f.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:5: fleets[0].devices: 4 devices but data/epa-sample.csv has 3 sites") {
		t.Fatalf("err = %v, want the devices line to say the file has 3 sites", err)
	}
}
