package export_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/citybench/citybench/reports/export"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/reports/synth"
)

func synthetic(t *testing.T) *result.Result {
	t.Helper()
	r, err := synth.Result(synth.WithSeed(3), synth.WithDuration(12, 2), synth.WithRate(150))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCSVColumnsAndRows(t *testing.T) {
	tests := []struct {
		name       string
		r          *result.Result
		wantHeader []string
		wantRows   [][]string
	}{
		{
			name: "stages in pipeline order, empty latency where nothing arrived",
			r: &result.Result{Intervals: []result.Interval{
				{StartS: 0, Offered: 10, Errors: 1, Connections: 5, GenLagP99Us: 70, Stages: map[string]result.IntervalStage{
					"store": {Delivered: 8, P50Us: 100, P99Us: 900, MaxUs: 950}, "sent": {Delivered: 10, P50Us: 5, P99Us: 9, MaxUs: 12}}},
				{StartS: 1, Offered: 10, Connections: 5, Stages: map[string]result.IntervalStage{"sent": {Delivered: 10, P50Us: 6, P99Us: 8, MaxUs: 8}}},
			}},
			wantHeader: []string{"start_s", "offered", "errors", "connections", "gen_lag_p99_us",
				"sent_delivered", "sent_p50_us", "sent_p99_us", "sent_max_us",
				"store_delivered", "store_p50_us", "store_p99_us", "store_max_us"},
			wantRows: [][]string{
				{"0", "10", "1", "5", "70", "10", "5", "9", "12", "8", "100", "900", "950"},
				{"1", "10", "0", "5", "0", "10", "6", "8", "8", "0", "", "", ""},
			},
		},
		{
			name:       "no intervals: header only",
			r:          &result.Result{},
			wantHeader: []string{"start_s", "offered", "errors", "connections", "gen_lag_p99_us"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := export.WriteCSV(&buf, tc.r); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(recs[0], tc.wantHeader) {
				t.Errorf("header %v, want %v", recs[0], tc.wantHeader)
			}
			if len(recs)-1 != len(tc.wantRows) {
				t.Fatalf("%d rows, want %d", len(recs)-1, len(tc.wantRows))
			}
			for i, want := range tc.wantRows {
				if !slices.Equal(recs[i+1], want) {
					t.Errorf("row %d = %v, want %v", i, recs[i+1], want)
				}
			}
		})
	}
}

func TestCSVFromSyntheticRun(t *testing.T) {
	r := synthetic(t)
	var buf bytes.Buffer
	if err := export.WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(r.Intervals)+1 {
		t.Fatalf("%d rows, want header + %d intervals", len(recs), len(r.Intervals))
	}
	col := slices.Index(recs[0], "kafka_p99_us")
	if col < 0 {
		t.Fatalf("no kafka_p99_us column in %v", recs[0])
	}
	for i, iv := range r.Intervals {
		if got := recs[i+1][col]; got != strconv.FormatInt(iv.Stages["kafka"].P99Us, 10) {
			t.Errorf("interval %d kafka p99 %s, want %d", i, got, iv.Stages["kafka"].P99Us)
		}
	}
}

func TestHlogRoundTripThroughHdrReader(t *testing.T) {
	r := synthetic(t)
	for _, stage := range []string{"sent", "kafka", "api"} {
		t.Run(stage, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := export.WriteHlog(&buf, r, stage)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(r.Intervals) {
				t.Fatalf("wrote %d intervals, want %d", n, len(r.Intervals))
			}
			text := buf.String()
			for _, want := range []string{"#[StartTime: ", "#[BaseTime: ", "#[Histogram log format version 1.3]",
				`"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`} {
				if !strings.Contains(text, want) {
					t.Errorf("log lacks %q", want)
				}
			}
			rd := hdrhistogram.NewHistogramLogReader(&buf)
			startMs := r.Meta.StartedAt.UnixMilli()
			for i, iv := range r.Intervals {
				h, err := rd.NextIntervalHistogram()
				if err != nil || h == nil {
					t.Fatalf("interval %d: read back %v, %v", i, h, err)
				}
				want, err := hdrhistogram.Decode([]byte(iv.Stages[stage].LatencyHDR))
				if err != nil {
					t.Fatal(err)
				}
				if h.TotalCount() != want.TotalCount() || h.ValueAtQuantile(99) != want.ValueAtQuantile(99) || h.Max() != want.Max() {
					t.Errorf("interval %d: read count %d p99 %d max %d, want %d %d %d", i,
						h.TotalCount(), h.ValueAtQuantile(99), h.Max(), want.TotalCount(), want.ValueAtQuantile(99), want.Max())
				}
				if wantStart := startMs + int64(iv.StartS*1000); h.StartTimeMs() != wantStart || h.EndTimeMs() != wantStart+1000 {
					t.Errorf("interval %d: read [%d, %d] ms, want [%d, %d]", i, h.StartTimeMs(), h.EndTimeMs(), wantStart, wantStart+1000)
				}
			}
			if h, err := rd.NextIntervalHistogram(); h != nil || err != nil {
				t.Errorf("extra data after the last interval: %v, %v", h, err)
			}
		})
	}
}

func TestWriteAll(t *testing.T) {
	r := synthetic(t)
	dir := t.TempDir()
	if err := export.WriteAll(r, dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{export.TimeseriesFile, "sent.hlog", "acked.hlog", "broker.hlog", "kafka.hlog", "store.hlog", "api.hlog"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	r.Intervals[0].Stages["kafka"] = result.IntervalStage{Delivered: 1, LatencyHDR: "garbage!"}
	if err := export.WriteAll(r, t.TempDir()); err == nil {
		t.Error("a corrupt histogram must fail the export, not be skipped")
	}
}
