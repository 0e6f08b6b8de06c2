package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybench/citybench/pipeline/store"
)

// benchAPI serves one device that reported two metrics every second for a day.
func benchAPI(b *testing.B) (http.Handler, time.Time) {
	b.Helper()
	st := newTestStore()
	end := now
	start := end.Add(-24 * time.Hour)
	ctx := context.Background()
	if err := st.UpsertDevices(ctx, []store.Device{{ID: "dev", Model: "m", LastSeen: end}}); err != nil {
		b.Fatal(err)
	}
	const n = 86400
	rows := make([]store.Row, 0, 1000)
	for i := range n {
		rows = append(rows, store.Row{DeviceID: "dev", Time: start.Add(time.Duration(i) * time.Second), Seq: uint64(i + 1),
			Metrics: map[string]float64{"temperature": 20 + float64(i%100)/10, "humidity": float64(i % 90)}})
		if len(rows) == cap(rows) {
			if err := st.WriteReadings(ctx, rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	h := New(st, WithClock(func() time.Time { return end }), WithRegistry(prometheus.NewRegistry()), WithLogger(discard()))
	return h, start
}

func BenchmarkReadings(b *testing.B) {
	h, start := benchAPI(b)
	hour := "&from=" + strconv.FormatInt(start.Add(12*time.Hour).UnixMilli(), 10) + "&to=" + strconv.FormatInt(start.Add(13*time.Hour).UnixMilli(), 10)
	for _, bc := range []struct {
		name  string
		query string
		rows  int
	}{
		{"1h_limit1000", "?limit=1000" + hour, 1000},
		{"1h_limit1000_metric", "?limit=1000&metric=humidity" + hour, 1000},
		{"24h_limit10000", "?limit=10000", 10000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			target := "/api/v1/devices/dev/readings" + bc.query
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(bc.rows)*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
		})
	}
}

func BenchmarkExportCSV(b *testing.B) {
	h, _ := benchAPI(b)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for b.Loop() {
		res, err := http.Get(srv.URL + "/api/v1/export.csv?device=dev")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("status %d, %v", res.StatusCode, err)
		}
		b.SetBytes(n)
	}
	b.ReportMetric(2*86400*float64(b.N)/b.Elapsed().Seconds(), "csv-lines/s")
}
