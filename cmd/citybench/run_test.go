package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs citybench with args in process and returns its exit code, stdout and error.
func runCLI(t *testing.T, args ...string) (int, string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		return exitCode(err), out.String(), err
	}
	return exitOK, out.String(), nil
}

func TestRunRefusesOverridesTheTargetCannotHonour(t *testing.T) {
	smoke := filepath.Join("..", "..", "scenarios", "smoke.yaml")
	code, _, err := runCLI(t, "run", smoke, "--broker", "hivemq", "--out", t.TempDir(), "--no-report", "-q")
	if code != exitInvalid {
		t.Fatalf("exit %d (%v), want %d", code, err, exitInvalid)
	}
	if want := "target.broker: the embedded target runs its own broker"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
}
