package export_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/export"
)

// TestHlogReadByHdrHistogramJava feeds an exported .hlog to HdrHistogram's own
// HistogramLogProcessor. It runs when CITYBENCH_HDR_JAR names an HdrHistogram jar
// (org.hdrhistogram:HdrHistogram) and java is on PATH.
func TestHlogReadByHdrHistogramJava(t *testing.T) {
	jar := os.Getenv("CITYBENCH_HDR_JAR")
	if jar == "" {
		t.Skip("set CITYBENCH_HDR_JAR to an HdrHistogram jar (make hdr-jar prints one) to check Java compatibility")
	}
	// Set means required (CI sets it): a missing java or jar fails instead of skipping.
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatalf("CITYBENCH_HDR_JAR is set but java is not on PATH: %v", err)
	}
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("CITYBENCH_HDR_JAR: %v", err)
	}
	r := synthetic(t)
	path := filepath.Join(t.TempDir(), "kafka.hlog")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := export.WriteHlog(f, r, "kafka"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), java, "-cp", jar, "org.HdrHistogram.HistogramLogProcessor",
		"-i", path, "-csv", "-outputValueUnitRatio", "1").Output()
	if err != nil {
		t.Fatalf("HistogramLogProcessor: %v", err)
	}
	// Skip the "#[StartTime ..." comment line, then read Value,Percentile,TotalCount,...
	lines := bytes.SplitN(out, []byte("\n"), 2)
	rows, err := csv.NewReader(bytes.NewReader(lines[1])).ReadAll()
	if err != nil {
		t.Fatalf("parse processor output: %v\n%s", err, out)
	}
	merged := hdrhistogram.New(1, 3_600_000_000, 3)
	for _, iv := range r.Intervals {
		h, err := hdrhistogram.Decode([]byte(iv.Stages["kafka"].LatencyHDR))
		if err != nil {
			t.Fatal(err)
		}
		merged.Merge(h)
	}
	last := rows[len(rows)-1]
	if total, _ := strconv.ParseInt(last[2], 10, 64); total != merged.TotalCount() {
		t.Errorf("Java read %d values, Go wrote %d", total, merged.TotalCount())
	}
	for _, row := range rows[1:] {
		if row[1] == "0.500000000000" {
			v, _ := strconv.ParseFloat(row[0], 64)
			if want := float64(merged.ValueAtQuantile(50)); v < want*0.999 || v > want*1.001 {
				t.Errorf("Java p50 %v µs, Go %v µs", v, want)
			}
			return
		}
	}
	t.Errorf("no 50th percentile row in:\n%s", out)
}
