package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/citybench/citybench/reports/synth"
)

const recordedSmoke = "../../reports/testdata/embedded-smoke/result.json"

func runCmd(cmd *cobra.Command, args ...string) (string, int) {
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); err != nil {
		return out.String() + err.Error(), exitCode(err)
	}
	return out.String(), exitOK
}

func TestReportCmd(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "result.json")
	if b, err := os.ReadFile(recordedSmoke); err == nil {
		if err := os.WriteFile(src, b, 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("no recorded result yet (%v): using a synthetic one", err)
		r, err := synth.Result(synth.WithSeed(5))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Save(src); err != nil {
			t.Fatal(err)
		}
	}
	out, code := runCmd(newReportCmd(), src)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, f := range []string{"index.html", "timeseries.csv", "store.hlog", "throughput.png", "spectrum.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}

	tests := []struct {
		name string
		args []string
		code int
	}{
		{"missing file", []string{filepath.Join(dir, "nope.json")}, exitInvalid},
		{"not a result", []string{filepath.Join(dir, "timeseries.csv")}, exitInvalid},
		{"explicit out", []string{src, "--out", filepath.Join(dir, "elsewhere")}, exitOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if out, code := runCmd(newReportCmd(), tc.args...); code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, out)
			}
		})
	}
}

// saveRuns writes n repeated synthetic runs under dir/run-i/result.json.
func saveRuns(t *testing.T, dir string, firstSeed uint64, n int, opts ...synth.Option) {
	t.Helper()
	for i := range n {
		o := append([]synth.Option{synth.WithSeed(firstSeed + uint64(i)), synth.WithDuration(15, 3), synth.WithoutFault(), synth.WithoutResources()}, opts...)
		r, err := synth.Result(o...)
		if err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, fmt.Sprintf("run-%d", i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.Save(filepath.Join(sub, "result.json")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCompareCmdExitCodes(t *testing.T) {
	root := t.TempDir()
	base, same, slow := filepath.Join(root, "base"), filepath.Join(root, "same"), filepath.Join(root, "slow")
	saveRuns(t, base, 1, 5)
	saveRuns(t, same, 21, 5)
	saveRuns(t, slow, 41, 5, synth.WithTailRegression(0.95, 1.3))
	out := filepath.Join(root, "out")

	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"same build, 5 runs a side", []string{base, "--candidate", same, "--out", out}, exitOK, "no regression"},
		{"planted 30% p99 regression", []string{base, "--candidate", slow, "--out", out}, exitRegression, "store.p99"},
		{"A B form", []string{base, slow, "--out", ""}, exitRegression, "REGRESSION"},
		{"looser limits pass", []string{base, "--candidate", slow, "--max-regression", "p99=50%,p99.9=50%", "--out", ""}, exitOK, "no regression"},
		{"bad limit", []string{base, "--candidate", slow, "--max-regression", "p97=5%"}, exitInvalid, "unknown metric"},
		{"three positional args", []string{base, same, slow}, exitInvalid, "--candidate"},
		{"missing folder", []string{base, filepath.Join(root, "nope")}, exitInvalid, "candidate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, code := runCmd(newCompareCmd(), tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d:\n%s", code, tc.code, got)
			}
			if !strings.Contains(got, tc.contains) {
				t.Errorf("output lacks %q:\n%s", tc.contains, got)
			}
		})
	}
	for _, f := range []string{"compare.md", "compare-spectrum.png", "compare-spectrum.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}
