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

// The benchmarks serve one device that reported two metrics every second for a
// day. Each reports, besides ns/op, "x-store": its time over the time of the
// bare store reads the request needs. The two are measured alternately in the
// same loop, so a machine busy with other work slows both alike and the ratio
// still reads the API's own cost.

func benchStore(b *testing.B) (store.Store, time.Time) {
	b.Helper()
	st := newTestStore()
	end := now
	start := end.Add(-24 * time.Hour)
	ctx := context.Background()
	if err := st.UpsertDevices(ctx, []store.Device{{ID: "dev", Model: "m", LastSeen: end}}); err != nil {
		b.Fatal(err)
	}
	rows := make([]store.Row, 0, 1000)
	for i := range 86400 {
		rows = append(rows, store.Row{DeviceID: "dev", Time: start.Add(time.Duration(i) * time.Second), Seq: uint64(i + 1),
			Metrics: map[string]float64{"temperature": 20 + float64(i%100)/10, "humidity": float64(i % 90)}})
		if len(rows) == cap(rows) {
			if err := st.WriteReadings(ctx, rows); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	return st, start
}

// storeTime times the store reads a request makes: the query [from, to) in
// pages of pageSize, at most maxPages of them (0: to the end). It stops the
// benchmark timer meanwhile, so ns/op stays the API's.
func storeTime(b *testing.B, st store.Store, from, to time.Time, pageSize, maxPages int) time.Duration {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	begin := time.Now()
	for page := 1; ; page++ {
		rows, err := st.Readings(context.Background(), store.Query{DeviceID: "dev", From: from, To: to, Limit: pageSize})
		if err != nil {
			b.Fatal(err)
		}
		if len(rows) < pageSize || page == maxPages {
			break
		}
		from = rows[len(rows)-1].Time.Add(time.Millisecond)
	}
	return time.Since(begin)
}

// reportRatio reports the API's time over the store's, both summed over the loop.
func reportRatio(b *testing.B, store time.Duration) {
	b.ReportMetric(float64(b.Elapsed())/float64(store), "x-store")
}

func BenchmarkReadings(b *testing.B) {
	st, start := benchStore(b)
	h := New(st, WithClock(func() time.Time { return now }), WithRegistry(prometheus.NewRegistry()), WithLogger(discard()))
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	from, to := start.Add(12*time.Hour), start.Add(13*time.Hour)
	for _, bc := range []struct {
		name     string
		query    string
		from, to time.Time
		rows     int
		page     int // the size of the one store read the request makes, for the baseline
	}{
		{"1h_limit1000", "?limit=1000&from=" + ms(from) + "&to=" + ms(to), from, to, 1000, 1001},
		// A filter reads full pages; every row has humidity, so one page serves.
		{"1h_limit1000_metric", "?limit=1000&metric=humidity&from=" + ms(from) + "&to=" + ms(to), from, to, 1000, DefaultMaxLimit},
		{"24h_limit10000", "?limit=10000", now.Add(-DefaultWindow), now, 10000, 10001},
	} {
		b.Run(bc.name, func(b *testing.B) {
			target := "/api/v1/devices/dev/readings" + bc.query
			var base time.Duration
			for b.Loop() {
				base += storeTime(b, st, bc.from, bc.to, bc.page, 1)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(bc.rows)*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
			reportRatio(b, base)
		})
	}
}

func BenchmarkExportCSV(b *testing.B) {
	st, start := benchStore(b)
	h := New(st, WithClock(func() time.Time { return now }), WithRegistry(prometheus.NewRegistry()), WithLogger(discard()))
	srv := httptest.NewServer(h)
	defer srv.Close()
	var base time.Duration
	for b.Loop() {
		base += storeTime(b, st, start, now, DefaultMaxLimit, 0)
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
	reportRatio(b, base)
}
