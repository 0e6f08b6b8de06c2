package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCmd(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: bad\nduration: 5s\nfleets:\n  - name: env\n    devices: 10\n    topic: c/{device}\n    codec: xml\n    qos: 1\n    sensors: [{metric: t, mean: 1, stddev: 1}]\n    arrival: {kind: fixed, interval: 1s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	burst := filepath.Join("..", "..", "scenarios", "testdata", "bad_burst.yaml")
	smoke := filepath.Join("..", "..", "scenarios", "smoke.yaml")
	district := filepath.Join("..", "..", "scenarios", "district.yaml")
	unhonoured := filepath.Join("..", "..", "scenarios", "testdata", "embedded_unsupported.yaml")
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  []string // substrings
		errText []string // substrings of the returned error
	}{
		{"one valid", []string{smoke}, exitOK, []string{"ok: " + smoke + " (smoke, 200 devices, 10s total)"}, nil},
		{"two valid", []string{smoke, district}, exitOK, []string{"ok: " + smoke, "ok: " + district + " (district, 2000 devices, 40s total)"}, nil},
		{"invalid names file line and field", []string{bad}, exitInvalid, nil,
			[]string{bad + `:7: fleets[0].codec: unknown codec "xml" (want json, protobuf or text)`}},
		{"embedded target refuses what it cannot honour", []string{unhonoured}, exitInvalid, nil,
			[]string{unhonoured + ":13: target.broker: the embedded target runs its own broker", unhonoured + ":17: target.cassandra_nodes"}},
		{"invalid burst names each line", []string{burst}, exitInvalid, nil,
			[]string{burst + ":14: fleets[0].arrival.count: a burst needs count ≥ 1", burst + ":15: fleets[0].arrival.inflight: inflight must be at least 1",
				burst + ":16: fleets[0].arrival.interval:", burst + ":17: fleets[0].arrival.jitter:"}},
		{"valid and invalid", []string{smoke, bad}, exitInvalid, []string{"ok: " + smoke}, []string{bad + ":7:"}},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, exitInvalid, nil, []string{"nope.yaml"}},
		{"no args", nil, exitInvalid, nil, []string{"at least one scenario file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newValidateCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tt.args)
			cmd.SilenceUsage = true
			cmd.SilenceErrors = true
			err := cmd.Execute()
			code := exitOK
			if err != nil {
				code = exitCode(err)
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d (err: %v)", code, tt.code, err)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output %q lacks %q", out.String(), s)
				}
			}
			for _, s := range tt.errText {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("error %v lacks %q", err, s)
				}
			}
		})
	}
}
