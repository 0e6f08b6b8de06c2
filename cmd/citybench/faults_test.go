package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestFaultsTheTargetCannotPerform: run and validate exit 2 naming file, line
// and field when the chosen target cannot perform a fault.
func TestFaultsTheTargetCannotPerform(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "../../scenarios/faults/kafka-broker-kill.yaml", "--target", "embedded", "--no-report", "-q", "--out", ""},
			"scenarios/faults/kafka-broker-kill.yaml:31: faults[0].action: the embedded target cannot kill kafka-2"},
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
