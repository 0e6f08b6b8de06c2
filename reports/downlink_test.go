package reports_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citybench/citybench/reports"
	"github.com/citybench/citybench/reports/result"
)

// recordedDownlink is a real embedded run of scenarios/downlink.yaml.
const recordedDownlink = "testdata/embedded-downlink/result.json"

// TestDownlinkReportInBrowser opens a downlink run's page in headless Chromium:
// its charts load, the console stays clean, and the downlink table shows each
// command stage's accounting and round-trip percentiles as the result has them.
func TestDownlinkReportInBrowser(t *testing.T) {
	browser := chromiumOrSkip(t)
	r, err := result.Load(recordedDownlink)
	if err != nil {
		t.Fatal(err)
	}
	if r.Downlink == nil || len(r.Downlink.Stages) != len(result.CommandStages) {
		t.Fatalf("%s has no downlink stages", recordedDownlink)
	}
	dir := t.TempDir()
	if err := reports.Render(context.Background(), r, dir); err != nil {
		t.Fatal(err)
	}
	rows := checkInBrowser(t, browser, filepath.Join(dir, reports.IndexFile), 12, `(() => {
		const t = document.getElementById("downlink");
		if (!t) return "[]";
		return JSON.stringify(Array.from(t.rows).slice(1).map(r => Array.from(r.cells).map(c => c.textContent)));
	})()`)
	var cells [][]string
	if err := json.Unmarshal([]byte(rows), &cells); err != nil {
		t.Fatalf("downlink table: %v (%s)", err, rows)
	}
	if len(cells) != len(r.Downlink.Stages) {
		t.Fatalf("downlink table has %d rows, want one per command stage: %q", len(cells), cells)
	}
	for i, st := range r.Downlink.Stages {
		want := []string{st.Stage, fmt.Sprint(st.Delivery.Expected), fmt.Sprint(st.Delivery.Delivered), fmt.Sprint(st.Delivery.Lost),
			fmt.Sprint(st.Delivery.Duplicated), result.FormatUs(st.Latency.P50Us), result.FormatUs(st.Latency.P90Us), result.FormatUs(st.Latency.P99Us)}
		if got := cells[i][:len(want)]; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
	if !strings.Contains(rows, "command_acked") {
		t.Error("the round trip (command_acked) is not on the page")
	}
}
