package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withoutMinISR copies a catalog scenario without its min_insync_replicas line,
// which the embedded target refuses before it ever looks at the faults.
func withoutMinISR(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(b), "  min_insync_replicas: 2\n", "", 1)
	if out == string(b) {
		t.Fatalf("%s has no min_insync_replicas line to drop", path)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestFaultsTheTargetCannotPerform: run and validate exit 2 naming file, line
// and field when the chosen target cannot perform a fault.
func TestFaultsTheTargetCannotPerform(t *testing.T) {
	kill := withoutMinISR(t, "../../scenarios/faults/kafka-broker-kill.yaml")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", kill, "--target", "embedded", "--no-report", "-q", "--out", ""},
			"kafka-broker-kill.yaml:30: faults[0].action: the embedded target cannot kill kafka-2"},
		{[]string{"validate", "../../scenarios/testdata/bad_faults.yaml"},
			"bad_faults.yaml:17: faults[2].target: kafka-4: the topology has 3 kafka instance(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			if tt.args[len(tt.args)-1] == "" {
				tt.args[len(tt.args)-1] = t.TempDir()
			}
			var out bytes.Buffer
			root := newRootCmd()
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tt.args)
			err := root.Execute()
			if err == nil || exitCode(err) != exitInvalid || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v (exit %d), want exit %d with %q", err, exitCode(err), exitInvalid, tt.want)
			}
		})
	}
}
