package api

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/citybench/citybench/pipeline/store"
)

// now is the fixed "current time" of handler tests; seeded data ends just before it.
var now = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

type fixture struct {
	devices []store.Device
	rows    []store.Row
}

// seed builds a small fleet: dev-a reports temperature every 10 s for 2 h, with
// humidity on two readings out of three (so metric filters drop rows); dev-b
// reports co2 every minute; dev-c is known but has never sent anything.
func seed(t testing.TB, st store.Store, end time.Time) fixture {
	t.Helper()
	var f fixture
	f.devices = []store.Device{
		{ID: "dev-b", Model: "co2-v2", Topic: "/1000/b2/f1/n1/environment", Location: map[string]string{"zip": "1000", "building": "b2"}, LastSeen: end.Add(-time.Minute)},
		{ID: "dev-a", Model: "env-v1", Topic: "/1000/b1/f3/n7/environment", Location: map[string]string{"zip": "1000", "building": "b1", "floor": "f3"}, LastSeen: end.Add(-10 * time.Second)},
		{ID: "dev-c", Model: "env-v1", Topic: "/1000/b1/f4/n1/environment"},
	}
	start := end.Add(-2 * time.Hour)
	for i := range 720 {
		m := map[string]float64{"temperature": 20 + float64(i%50)/10}
		if i%3 != 0 {
			m["humidity"] = 40 + float64(i%7)
		}
		f.rows = append(f.rows, store.Row{DeviceID: "dev-a", Time: start.Add(time.Duration(i) * 10 * time.Second), Seq: uint64(i + 1), Metrics: m})
	}
	for i := range 120 {
		f.rows = append(f.rows, store.Row{DeviceID: "dev-b", Time: start.Add(time.Duration(i) * time.Minute), Seq: uint64(i + 1), Metrics: map[string]float64{"co2": 400 + float64(i)}})
	}
	ctx := context.Background()
	if err := st.UpsertDevices(ctx, f.devices); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteReadings(ctx, f.rows); err != nil {
		t.Fatal(err)
	}
	return f
}

// want returns the seeded rows a query should return, in order.
func (f fixture) want(id string, from, to time.Time, metric string) []store.Row {
	var out []store.Row
	for _, r := range f.rows {
		if r.DeviceID != id || r.Time.Before(from) || !r.Time.Before(to) {
			continue
		}
		if _, ok := r.Metrics[metric]; metric != "" && !ok {
			continue
		}
		out = append(out, r)
	}
	return out
}

func newTestAPI(t testing.TB, opts ...Option) (http.Handler, fixture, store.Store) {
	t.Helper()
	st := newTestStore()
	f := seed(t, st, now)
	opts = append([]Option{WithClock(func() time.Time { return now }), WithRegistry(prometheus.NewRegistry())}, opts...)
	return New(st, opts...), f, st
}

func get(t testing.TB, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

// getOK asks for target, insists on 200 and decodes the JSON body.
func getOK[T any](t testing.TB, h http.Handler, target string) T {
	t.Helper()
	rec := get(t, h, target)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", target, rec.Code, rec.Body)
	}
	return decode[T](t, rec)
}

func decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T: %v; body %q", v, err, rec.Body.String())
	}
	return v
}

func TestDevices(t *testing.T) {
	h, f, st := newTestAPI(t)
	rec := get(t, h, "/api/v1/devices")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	got := decode[[]DeviceJSON](t, rec)
	// The API must present what the store reports (the store normalises, e.g.
	// stamps a never-seen device's last_seen), so compare with the store.
	stored, err := st.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(f.devices) || len(stored) != len(f.devices) {
		t.Fatalf("got %d devices, store has %d, seeded %d", len(got), len(stored), len(f.devices))
	}
	byID := map[string]store.Device{}
	for _, d := range stored {
		byID[d.ID] = d
	}
	for i, g := range got {
		if i > 0 && got[i-1].ID >= g.ID {
			t.Errorf("not sorted by id: %q before %q", got[i-1].ID, g.ID)
		}
		w, ok := byID[g.ID]
		if !ok {
			t.Fatalf("device %q not in the store", g.ID)
		}
		if g.Model != w.Model || g.Topic != w.Topic || len(g.Location) != len(w.Location) {
			t.Errorf("device %q = %+v, want %+v", g.ID, g, w)
		}
		for k, v := range w.Location {
			if g.Location[k] != v {
				t.Errorf("device %q location[%q] = %q, want %q", g.ID, k, g.Location[k], v)
			}
		}
		if g.Location == nil {
			t.Errorf("device %q: location must be {} rather than null", g.ID)
		}
		if g.LastSeen == nil || !g.LastSeen.Equal(w.LastSeen) {
			t.Errorf("device %q last_seen = %v, want %v", g.ID, g.LastSeen, w.LastSeen)
		}
	}
}

func TestDevicesEmptyStoreIsEmptyList(t *testing.T) {
	h := New(newTestStore(), WithRegistry(prometheus.NewRegistry()))
	rec := get(t, h, "/api/v1/devices")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("got %d %q, want 200 []", rec.Code, rec.Body)
	}
}

func TestReadings(t *testing.T) {
	h, f, _ := newTestAPI(t)
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
	tests := []struct {
		name      string
		id        string
		query     url.Values
		from, to  time.Time // expected range
		metric    string
		limit     int
		truncated bool
	}{
		{name: "defaults: last 24h, limit 1000", id: "dev-a", from: now.Add(-DefaultWindow), to: now, limit: DefaultLimit},
		{name: "rfc3339 range", id: "dev-a", query: url.Values{"from": {rfc(now.Add(-30 * time.Minute))}, "to": {rfc(now.Add(-10 * time.Minute))}},
			from: now.Add(-30 * time.Minute), to: now.Add(-10 * time.Minute), limit: DefaultLimit},
		{name: "rfc3339 with offset", id: "dev-a", query: url.Values{"from": {now.Add(-30 * time.Minute).In(time.FixedZone("CET", 3600)).Format(time.RFC3339)}},
			from: now.Add(-30 * time.Minute), to: now, limit: DefaultLimit},
		{name: "unix ms range", id: "dev-a", query: url.Values{"from": {ms(now.Add(-5 * time.Minute))}, "to": {ms(now.Add(-time.Minute))}},
			from: now.Add(-5 * time.Minute), to: now.Add(-time.Minute), limit: DefaultLimit},
		{name: "limit truncates", id: "dev-a", query: url.Values{"limit": {"25"}}, from: now.Add(-DefaultWindow), to: now, limit: 25, truncated: true},
		{name: "limit equal to rows is not truncated", id: "dev-a", query: url.Values{"limit": {"720"}}, from: now.Add(-DefaultWindow), to: now, limit: 720},
		{name: "max limit", id: "dev-a", query: url.Values{"limit": {"10000"}}, from: now.Add(-DefaultWindow), to: now, limit: 10000},
		{name: "metric filter", id: "dev-a", query: url.Values{"metric": {"humidity"}}, from: now.Add(-DefaultWindow), to: now, metric: "humidity", limit: DefaultLimit},
		{name: "metric filter with limit", id: "dev-a", query: url.Values{"metric": {"humidity"}, "limit": {"7"}}, from: now.Add(-DefaultWindow), to: now, metric: "humidity", limit: 7, truncated: true},
		{name: "metric the device lacks", id: "dev-a", query: url.Values{"metric": {"co2"}}, from: now.Add(-DefaultWindow), to: now, metric: "co2", limit: DefaultLimit},
		{name: "known device without readings", id: "dev-c", from: now.Add(-DefaultWindow), to: now, limit: DefaultLimit},
		{name: "range before any data", id: "dev-b", query: url.Values{"from": {rfc(now.Add(-48 * time.Hour))}, "to": {rfc(now.Add(-47 * time.Hour))}},
			from: now.Add(-48 * time.Hour), to: now.Add(-47 * time.Hour), limit: DefaultLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := getOK[ReadingsJSON](t, h, "/api/v1/devices/"+tc.id+"/readings?"+tc.query.Encode())
			want := f.want(tc.id, tc.from, tc.to, tc.metric)
			want = want[:min(len(want), tc.limit)]
			if got.DeviceID != tc.id || !got.From.Equal(tc.from) || !got.To.Equal(tc.to) || got.Limit != tc.limit || got.Metric != tc.metric {
				t.Errorf("header = %s %v %v limit %d metric %q; want %s %v %v %d %q",
					got.DeviceID, got.From, got.To, got.Limit, got.Metric, tc.id, tc.from, tc.to, tc.limit, tc.metric)
			}
			if got.Truncated != tc.truncated {
				t.Errorf("truncated = %v, want %v", got.Truncated, tc.truncated)
			}
			if got.Count != len(got.Readings) || len(got.Readings) != len(want) {
				t.Fatalf("count %d, %d readings, want %d", got.Count, len(got.Readings), len(want))
			}
			for i, r := range got.Readings {
				w := want[i]
				if !r.Time.Equal(w.Time) || r.Seq != w.Seq {
					t.Fatalf("reading %d = %v seq %d, want %v seq %d", i, r.Time, r.Seq, w.Time, w.Seq)
				}
				wantMetrics := w.Metrics
				if tc.metric != "" {
					wantMetrics = map[string]float64{tc.metric: w.Metrics[tc.metric]}
				}
				if fmt.Sprint(r.Metrics) != fmt.Sprint(wantMetrics) {
					t.Fatalf("reading %d metrics = %v, want %v", i, r.Metrics, wantMetrics)
				}
			}
		})
	}
}

// TestRequestErrors: every refused request names the parameter at fault.
func TestRequestErrors(t *testing.T) {
	h, _, _ := newTestAPI(t)
	long := strings.Repeat("x", maxNameLen+1)
	tests := []struct {
		name   string
		target string
		code   int
		param  string
	}{
		{"unknown device", "/api/v1/devices/nope/readings", 404, "id"},
		{"id too long", "/api/v1/devices/" + long + "/readings", 400, "id"},
		{"id with control character", "/api/v1/devices/a%01b/readings", 400, "id"},
		{"from not a time", "/api/v1/devices/dev-a/readings?from=yesterday", 400, "from"},
		{"from empty", "/api/v1/devices/dev-a/readings?from=", 400, "from"},
		{"to not a time", "/api/v1/devices/dev-a/readings?to=2026-13-01T00:00:00Z", 400, "to"},
		{"from before 1970", "/api/v1/devices/dev-a/readings?from=1969-12-31T00:00:00Z&to=1970-01-01T10:00:00Z", 400, "from"},
		{"negative unix ms", "/api/v1/devices/dev-a/readings?from=-5", 400, "from"},
		{"unix ms overflow", "/api/v1/devices/dev-a/readings?from=99999999999999999999", 400, "from"},
		{"to before from", "/api/v1/devices/dev-a/readings?from=2026-03-14T11:00:00Z&to=2026-03-14T10:00:00Z", 400, "to"},
		{"empty range", "/api/v1/devices/dev-a/readings?from=2026-03-14T11:00:00Z&to=2026-03-14T11:00:00Z", 400, "to"},
		{"range over cap", "/api/v1/devices/dev-a/readings?from=2026-01-01T00:00:00Z", 400, "from"},
		{"limit zero", "/api/v1/devices/dev-a/readings?limit=0", 400, "limit"},
		{"limit negative", "/api/v1/devices/dev-a/readings?limit=-3", 400, "limit"},
		{"limit over max", "/api/v1/devices/dev-a/readings?limit=10001", 400, "limit"},
		{"limit not a number", "/api/v1/devices/dev-a/readings?limit=ten", 400, "limit"},
		{"metric empty", "/api/v1/devices/dev-a/readings?metric=", 400, "metric"},
		{"metric too long", "/api/v1/devices/dev-a/readings?metric=" + long, 400, "metric"},
		{"unknown parameter", "/api/v1/devices/dev-a/readings?form=2026-03-14T11:00:00Z", 400, "form"},
		{"repeated parameter", "/api/v1/devices/dev-a/readings?limit=5&limit=6", 400, "limit"},
		{"bad params win over unknown device", "/api/v1/devices/nope/readings?limit=0", 400, "limit"},
		{"devices: unknown parameter", "/api/v1/devices?limit=5", 400, "limit"},
		{"export: unknown device", "/api/v1/export.csv?device=nope", 404, "device"},
		{"export: empty device", "/api/v1/export.csv?device=", 400, "device"},
		{"export: bad from", "/api/v1/export.csv?device=dev-a&from=now", 400, "from"},
		{"export: inverted range", "/api/v1/export.csv?device=dev-a&from=2026-03-14T11:00:00Z&to=2026-03-14T10:00:00Z", 400, "to"},
		{"export: range over cap", "/api/v1/export.csv?device=dev-a&from=2025-01-01T00:00:00Z", 400, "from"},
		{"export: empty metric", "/api/v1/export.csv?device=dev-a&metric=", 400, "metric"},
		{"export: unknown parameter", "/api/v1/export.csv?device=dev-a&limit=5", 400, "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, h, tc.target)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			body := decode[errorBody](t, rec)
			if body.Param != tc.param || body.Error == "" {
				t.Errorf("body %+v, want param %q and a message", body, tc.param)
			}
		})
	}
}

// TestReadingsPaging makes pages small so that answers span several store calls:
// the metric filter and the limit must still see every row exactly once, and the
// scan cap must stop reading with truncated set.
func TestReadingsPaging(t *testing.T) {
	st := newTestStore()
	f := seed(t, st, now)
	// Rows sharing timestamps straddle page boundaries: 1 row at t0, then 5 at t0+1s
	// (more than a page of 3), then pairs.
	t0 := now.Add(-3 * time.Minute)
	var same []store.Row
	for i := range 13 {
		at := t0
		switch {
		case i >= 1 && i <= 5:
			at = t0.Add(time.Second)
		case i > 5:
			at = t0.Add(time.Duration(2+(i-6)/2) * time.Second)
		}
		same = append(same, store.Row{DeviceID: "dev-d", Time: at, Seq: uint64(100 + i), Metrics: map[string]float64{"x": float64(i)}})
	}
	if err := st.UpsertDevices(context.Background(), []store.Device{{ID: "dev-d"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteReadings(context.Background(), same); err != nil {
		t.Fatal(err)
	}
	f.rows = append(f.rows, same...)

	tests := []struct {
		name        string
		opts        []Option
		target      string
		id, metric  string
		limit       int
		wantN       int // -1: all matching rows
		truncated   bool
		wantErrCode int
	}{
		{name: "filter over many pages", opts: []Option{WithLimits(20, 50)}, target: "/api/v1/devices/dev-a/readings?metric=humidity&limit=50",
			id: "dev-a", metric: "humidity", limit: 50, wantN: 50, truncated: true},
		{name: "filter, all rows", opts: []Option{WithLimits(20, 50), WithMaxScanRows(1000)}, target: "/api/v1/devices/dev-b/readings?metric=co2&limit=50&from=2026-03-14T10:00:00Z",
			id: "dev-b", metric: "co2", limit: 50, wantN: 50, truncated: true},
		{name: "scan cap stops a sparse filter", opts: []Option{WithLimits(10, 10), WithMaxScanRows(30)}, target: "/api/v1/devices/dev-a/readings?metric=humidity&limit=10",
			id: "dev-a", metric: "humidity", limit: 10, wantN: 10, truncated: true},
		{name: "scan cap below a filtered limit", opts: []Option{WithLimits(25, 25), WithMaxScanRows(30)}, target: "/api/v1/devices/dev-a/readings?metric=humidity&limit=25",
			id: "dev-a", metric: "humidity", limit: 25, wantN: 20, truncated: true},
		{name: "equal times across pages", opts: []Option{WithLimits(3, 3), WithMaxScanRows(100)}, target: "/api/v1/devices/dev-d/readings?metric=x&limit=3",
			id: "dev-d", metric: "x", limit: 3, wantN: 3, truncated: true},
		{name: "equal times across pages, all rows", opts: []Option{WithLimits(3, 20), WithMaxScanRows(100)}, target: "/api/v1/devices/dev-d/readings?metric=x&limit=20",
			id: "dev-d", metric: "x", limit: 20, wantN: 13},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(st, append([]Option{WithClock(func() time.Time { return now }), WithRegistry(prometheus.NewRegistry())}, tc.opts...)...)
			got := getOK[ReadingsJSON](t, h, tc.target)
			want := f.want(tc.id, got.From, got.To, tc.metric)
			want = want[:min(len(want), tc.wantN)]
			if len(got.Readings) != len(want) || got.Truncated != tc.truncated {
				t.Fatalf("%d readings truncated=%v, want %d truncated=%v", len(got.Readings), got.Truncated, len(want), tc.truncated)
			}
			for i := range want {
				if got.Readings[i].Seq != want[i].Seq {
					t.Fatalf("reading %d seq %d, want %d", i, got.Readings[i].Seq, want[i].Seq)
				}
			}
		})
	}
}

// TestReadingsCannotPagePastEqualTimes: a page full of rows with one timestamp
// cannot be paged past by time; the API must say so, not loop or drop rows.
func TestReadingsCannotPagePastEqualTimes(t *testing.T) {
	st := newTestStore()
	var rows []store.Row
	for i := range 5 {
		rows = append(rows, store.Row{DeviceID: "d", Time: now.Add(-time.Minute), Seq: uint64(i + 1), Metrics: map[string]float64{"x": 1}})
	}
	if err := st.WriteReadings(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	h := New(st, WithClock(func() time.Time { return now }), WithRegistry(prometheus.NewRegistry()), WithLimits(4, 4), WithMaxScanRows(4), WithLogger(discard()))
	rec := get(t, h, "/api/v1/devices/d/readings?metric=x")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500: %s", rec.Code, rec.Body)
	}
}

func TestExportCSV(t *testing.T) {
	from, to := now.Add(-20*time.Minute), now.Add(-10*time.Minute)
	rng := "&from=" + from.Format(time.RFC3339) + "&to=" + strconv.FormatInt(to.UnixMilli(), 10)
	all := "&from=" + now.Add(-3*time.Hour).Format(time.RFC3339) + "&to=" + now.Format(time.RFC3339)
	tests := []struct {
		name     string
		opts     []Option
		target   string
		from, to time.Time
		devices  []string
		metric   string
		filename string
	}{
		{"one device", nil, "/api/v1/export.csv?device=dev-a" + rng, from, to, []string{"dev-a"}, "", "dev-a_"},
		{"one device one metric", nil, "/api/v1/export.csv?device=dev-a&metric=humidity" + rng, from, to, []string{"dev-a"}, "humidity", "dev-a_"},
		{"all devices", nil, "/api/v1/export.csv?" + rng[1:], from, to, []string{"dev-a", "dev-b", "dev-c"}, "", "readings_"},
		{"device without data", nil, "/api/v1/export.csv?device=dev-c" + rng, from, to, []string{"dev-c"}, "", "dev-c_"},
		// Pages of 7 rows: every device's export spans many store reads and flushes.
		{"all devices, small pages", []Option{WithLimits(5, 7)}, "/api/v1/export.csv?" + all[1:], now.Add(-3 * time.Hour), now, []string{"dev-a", "dev-b", "dev-c"}, "", "readings_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, f, _ := newTestAPI(t, tc.opts...)
			rec := get(t, h, tc.target)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				t.Errorf("content type %q", ct)
			}
			if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, `filename="`+tc.filename) {
				t.Errorf("content disposition %q, want filename starting %q", cd, tc.filename)
			}
			recs, err := csv.NewReader(rec.Body).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(recs[0], ",") != "device_id,time,seq,metric,value" {
				t.Fatalf("header %v", recs[0])
			}
			var want [][]string
			for _, id := range tc.devices {
				for _, r := range f.want(id, tc.from, tc.to, tc.metric) {
					for _, k := range []string{"humidity", "temperature", "co2"} {
						v, ok := r.Metrics[k]
						if !ok || (tc.metric != "" && k != tc.metric) {
							continue
						}
						want = append(want, []string{id, r.Time.Format(time.RFC3339Nano), strconv.FormatUint(r.Seq, 10), k, strconv.FormatFloat(v, 'g', -1, 64)})
					}
				}
			}
			got := recs[1:]
			if len(got) != len(want) {
				t.Fatalf("%d rows, want %d", len(got), len(want))
			}
			for i := range want {
				if strings.Join(got[i], ",") != strings.Join(want[i], ",") {
					t.Fatalf("row %d = %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}

// failingStore wraps a real store and makes chosen operations fail, to drive the
// API's error paths.
type failingStore struct {
	store.Store
	devicesErr  error
	readingsErr error
	failAfter   int // Readings calls that succeed before readingsErr is returned
	calls       int
}

func (s *failingStore) Devices(ctx context.Context) ([]store.Device, error) {
	if s.devicesErr != nil {
		return nil, s.devicesErr
	}
	return s.Store.Devices(ctx)
}

func (s *failingStore) Readings(ctx context.Context, q store.Query) ([]store.Row, error) {
	s.calls++
	if s.readingsErr != nil && s.calls > s.failAfter {
		return nil, s.readingsErr
	}
	return s.Store.Readings(ctx, q)
}

func TestStoreFailures(t *testing.T) {
	boom := errors.New("connection refused")
	slow := fmt.Errorf("query: %w", context.DeadlineExceeded)
	tests := []struct {
		name   string
		fs     failingStore
		target string
		code   int
	}{
		{"devices error", failingStore{devicesErr: boom}, "/api/v1/devices", 500},
		{"devices timeout", failingStore{devicesErr: slow}, "/api/v1/devices", 503},
		{"readings error", failingStore{readingsErr: boom}, "/api/v1/devices/dev-a/readings", 500},
		{"readings timeout", failingStore{readingsErr: slow}, "/api/v1/devices/dev-a/readings", 503},
		{"device lookup error", failingStore{devicesErr: boom}, "/api/v1/devices/dev-c/readings", 500},
		{"export device lookup error", failingStore{devicesErr: boom}, "/api/v1/export.csv?device=dev-a", 500},
		{"readyz store down", failingStore{devicesErr: boom}, "/readyz", 503},
		{"healthz ignores the store", failingStore{devicesErr: boom}, "/healthz", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.fs
			fs.Store = newTestStore()
			seed(t, fs.Store, now)
			reg := prometheus.NewRegistry()
			h := New(&fs, WithClock(func() time.Time { return now }), WithRegistry(reg), WithLogger(discard()))
			rec := get(t, h, tc.target)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "connection refused") {
				t.Errorf("internal error detail leaked to the client: %s", rec.Body)
			}
			if tc.code >= 500 && tc.target != "/readyz" && counterSum(t, reg, "pipeline_api_store_errors_total") != 1 {
				t.Errorf("store error not counted")
			}
		})
	}
}

func TestClosedStoreAndGoneClient(t *testing.T) {
	h, _, st := newTestAPI(t, WithLogger(discard()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/devices/dev-a/readings", nil).WithContext(ctx))
	if rec.Code != statusClientClosed {
		t.Errorf("cancelled request: status %d, want %d", rec.Code, statusClientClosed)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/api/v1/devices", "/api/v1/devices/dev-a/readings", "/readyz"} {
		if rec := get(t, h, target); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s on a closed store: status %d, want 503", target, rec.Code)
		}
	}
}

// TestExportAbortsOnMidStreamFailure: once CSV rows are on the wire the status is
// 200, so a store failure must break the connection; a client must never see a
// truncated export as complete.
func TestExportAbortsOnMidStreamFailure(t *testing.T) {
	fs := &failingStore{Store: newTestStore(), readingsErr: errors.New("node down"), failAfter: 1}
	seed(t, fs.Store, now)
	h := New(fs, WithClock(func() time.Time { return now }), WithRegistry(prometheus.NewRegistry()), WithLimits(10, 10), WithLogger(discard()))
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/v1/export.csv?device=dev-a")
	if err != nil {
		return // cut before the headers left the server's buffer: also a failed download
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if body, err := io.ReadAll(res.Body); err == nil {
		t.Fatalf("read a complete %d-byte body; want the stream cut", len(body))
	}
}

func TestHealthAndReady(t *testing.T) {
	h, _, _ := newTestAPI(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := get(t, h, path)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", path, rec.Code)
		}
	}
}

type pingStore struct {
	store.Store
	err error
}

func (p pingStore) Ping(context.Context) error { return p.err }

func TestReadyzUsesPing(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{{nil, 200}, {errors.New("down"), 503}} {
		// Devices would succeed: the answer must come from Ping.
		h := New(pingStore{Store: newTestStore(), err: tc.err}, WithRegistry(prometheus.NewRegistry()), WithLogger(discard()))
		if rec := get(t, h, "/readyz"); rec.Code != tc.code {
			t.Errorf("ping %v: status %d, want %d", tc.err, rec.Code, tc.code)
		}
	}
}

func TestRouting(t *testing.T) {
	h, _, _ := newTestAPI(t)
	tests := []struct {
		method, target string
		code           int
		contentType    string
	}{
		{"GET", "/api/v1/nope", 404, "application/json"},
		{"GET", "/api/v2/devices", 404, "application/json"},
		{"POST", "/api/v1/devices", 405, "application/json"},
		{"DELETE", "/api/v1/devices/dev-a/readings", 405, "application/json"},
		{"GET", "/", 200, "text/html"},
		{"HEAD", "/", 200, "text/html"},
		{"GET", "/static/app.js", 200, "text/javascript"},
		{"GET", "/static/style.css", 200, "text/css"},
		{"GET", "/static/", 404, "text/plain"},
		{"GET", "/static/index.html", 404, "text/plain"},
		{"GET", "/static/missing.js", 404, "text/plain"},
		{"GET", "/elsewhere", 404, "text/plain"},
		{"GET", "/metrics", 200, "text/plain"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d", rec.Code, tc.code)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.contentType) {
				t.Errorf("content type %q, want %q", ct, tc.contentType)
			}
		})
	}
}

func TestDashboardPage(t *testing.T) {
	h, _, _ := newTestAPI(t, WithDashboardPoll(1500*time.Millisecond), WithLimits(100, 5000))
	rec := get(t, h, "/")
	body := rec.Body.String()
	for _, want := range []string{`<meta name="max-limit" content="5000">`, `<meta name="poll-ms" content="1500">`, `id="chart"`, `id="auto"`, `id="export"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "http") {
		t.Errorf("CSP %q", csp)
	}
	if rec := get(t, New(newTestStore(), WithoutDashboard(), WithRegistry(prometheus.NewRegistry())), "/"); rec.Code != 404 {
		t.Errorf("WithoutDashboard: / status %d", rec.Code)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, _, _ := newTestAPI(t, WithRegistry(reg))
	for _, target := range []string{"/api/v1/devices/dev-a/readings", "/api/v1/devices/dev-b/readings", "/api/v1/devices/nope/readings", "/api/v1/devices?x=1", "/nowhere"} {
		get(t, h, target)
	}
	tests := []struct {
		route, code string
		want        float64
	}{
		{"GET /api/v1/devices/{id}/readings", "200", 2},
		{"GET /api/v1/devices/{id}/readings", "404", 1},
		{"GET /api/v1/devices", "400", 1},
		{"unmatched", "404", 1},
	}
	for _, tc := range tests {
		if got := counterValue(t, reg, "pipeline_api_requests_total", map[string]string{"route": tc.route, "code": tc.code, "method": "GET"}); got != tc.want {
			t.Errorf("requests_total{route=%q,code=%s} = %v, want %v", tc.route, tc.code, got, tc.want)
		}
	}
	if n := histogramCount(t, reg, "pipeline_api_request_duration_seconds"); n != 5 {
		t.Errorf("latency observations %d, want 5", n)
	}
	rec := get(t, h, "/metrics")
	if !strings.Contains(rec.Body.String(), `pipeline_api_requests_total{code="200",method="GET",route="GET /api/v1/devices/{id}/readings"} 2`) {
		t.Errorf("/metrics lacks the request counter:\n%s", rec.Body)
	}
}

// TestOwnRegistries: two handlers in one process must not share or collide on
// metrics (no global default registry).
func TestOwnRegistries(t *testing.T) {
	st := newTestStore()
	a, b := New(st), New(st)
	get(t, a, "/healthz")
	rec := get(t, b, "/metrics")
	if strings.Contains(rec.Body.String(), `route="GET /healthz"`) {
		t.Error("second handler reports the first handler's requests")
	}
	if !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Error("own registry lacks the Go collector")
	}
}

func collect(t testing.TB, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func counterValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	for _, m := range collect(t, reg, name) {
		match := 0
		for _, lp := range m.GetLabel() {
			if labels[lp.GetName()] == lp.GetValue() {
				match++
			}
		}
		if match == len(labels) {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func counterSum(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	var sum float64
	for _, m := range collect(t, reg, name) {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func histogramCount(t testing.TB, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	var n uint64
	for _, m := range collect(t, reg, name) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// TestLimitsOptions: configured limits apply, and a maximum beyond what one store
// query accepts is clamped rather than turned into store errors.
func TestLimitsOptions(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		limit     string
		code      int
		wantLimit int
	}{
		{"default", nil, "", 200, DefaultLimit},
		{"configured default", []Option{WithLimits(50, 500)}, "", 200, 50},
		{"configured max", []Option{WithLimits(50, 500)}, "500", 200, 500},
		{"over configured max", []Option{WithLimits(50, 500)}, "501", 400, 0},
		{"default above max is reset", []Option{WithLimits(900, 100)}, "", 200, 100},
		{"max clamped to the store's", []Option{WithLimits(10, 10*store.MaxLimit)}, strconv.Itoa(store.MaxLimit - 1), 200, store.MaxLimit - 1},
		{"beyond the store's max", []Option{WithLimits(10, 10*store.MaxLimit)}, strconv.Itoa(store.MaxLimit), 400, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _ := newTestAPI(t, tc.opts...)
			target := "/api/v1/devices/dev-b/readings"
			if tc.limit != "" {
				target += "?limit=" + tc.limit
			}
			rec := get(t, h, target)
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code == 200 {
				if got := decode[ReadingsJSON](t, rec); got.Limit != tc.wantLimit {
					t.Errorf("limit %d, want %d", got.Limit, tc.wantLimit)
				}
			}
		})
	}
}

// TestRangeOptions: the configured range cap applies, and one beyond what the
// store accepts is clamped so that such ranges are 400s, not store errors.
func TestRangeOptions(t *testing.T) {
	storeMax := store.MaxQueryDays * 24 * time.Hour
	tests := []struct {
		name string
		opts []Option
		from time.Time // zero: no from parameter
		code int
	}{
		{"within WithMaxRange", []Option{WithMaxRange(time.Hour)}, now.Add(-time.Hour), 200},
		{"beyond WithMaxRange", []Option{WithMaxRange(time.Hour)}, now.Add(-time.Hour - time.Millisecond), 400},
		{"max range clamped to the store's", []Option{WithMaxRange(10 * storeMax)}, now.Add(-storeMax - time.Hour), 400},
		{"default window cut to the max range", []Option{WithMaxRange(time.Hour), WithDefaultWindow(48 * time.Hour)}, time.Time{}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _, _ := newTestAPI(t, tc.opts...)
			target := "/api/v1/devices/dev-b/readings"
			if !tc.from.IsZero() {
				target += "?from=" + tc.from.Format(time.RFC3339Nano)
			}
			if rec := get(t, h, target); rec.Code != tc.code {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
		})
	}
}
