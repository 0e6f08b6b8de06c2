// Package storetest is the conformance suite every store.Store implementation
// runs, so the in-memory store and Cassandra prove the same semantics.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citybench/citybench/pipeline/store"
)

// Run runs the suite. open returns a store for one subtest; it may return the same
// underlying database each time, as every subtest uses its own device ids.
// The store is closed by the suite.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	prefix := fmt.Sprintf("st%08x", rand.Uint32())
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, dev func(string) string)
	}{
		{"RoundTripAcrossDays", testRoundTrip},
		{"RewriteOverwrites", testRewrite},
		{"MillisecondKey", testMillisecondKey},
		{"TimeRangeHalfOpen", testTimeRange},
		{"Limits", testLimits},
		{"RejectsBadInput", testRejects},
		{"Devices", testDevices},
		{"ConcurrentWriters", testConcurrent},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			dev := func(name string) string { return prefix + "-" + tc.name + "-" + name }
			tc.fn(t, s, dev)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// base is a sample time just before a UTC midnight, so small offsets cross days.
const baseNs = 1795219199990000000 // 2026-11-20T23:59:59.99Z

func row(dev string, at time.Time, seq uint64, v float64) store.Row {
	return store.Row{DeviceID: dev, Time: at, Seq: seq, Metrics: map[string]float64{"temperature": v}}
}

func write(t *testing.T, s store.Store, rows ...store.Row) (before, after time.Time) {
	t.Helper()
	// Write times are microseconds; widen the window by one on each side.
	before = time.Now().Add(-time.Millisecond)
	if err := s.WriteReadings(ctx(t), rows); err != nil {
		t.Fatalf("WriteReadings: %v", err)
	}
	return before, time.Now().Add(time.Millisecond)
}

func read(t *testing.T, s store.Store, q store.Query) []store.Row {
	t.Helper()
	rows, err := s.Readings(ctx(t), q)
	if err != nil {
		t.Fatalf("Readings(%+v): %v", q, err)
	}
	return rows
}

type key struct {
	ms  int64
	seq uint64
}

func keys(rows []store.Row) []key {
	out := make([]key, len(rows))
	for i, r := range rows {
		out[i] = key{r.Time.UnixMilli(), r.Seq}
	}
	return out
}

func testRoundTrip(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	d := dev("a")
	// Written out of order, spread over two days, to prove ordering is the store's.
	in := []store.Row{
		row(d, base.Add(20*time.Millisecond), 3, 3), // next day
		row(d, base, 1, 1),
		row(d, base.Add(5*time.Millisecond), 2, 2),
		row(d, base.Add(5*time.Millisecond), 1, 1.5), // same time, lower seq
		row(dev("other"), base, 1, 99),
	}
	in[1].Metrics["humidity"] = 40.5
	before, after := write(t, s, in...)
	got := read(t, s, store.Query{DeviceID: d, From: base.Add(-time.Hour), To: base.Add(time.Hour)})
	want := []key{
		{base.UnixMilli(), 1},
		{base.Add(5 * time.Millisecond).UnixMilli(), 1},
		{base.Add(5 * time.Millisecond).UnixMilli(), 2},
		{base.Add(20 * time.Millisecond).UnixMilli(), 3},
	}
	if !reflect.DeepEqual(keys(got), want) {
		t.Fatalf("keys = %v, want %v", keys(got), want)
	}
	wantDays := []string{"2026-11-20", "2026-11-20", "2026-11-20", "2026-11-21"}
	for i, r := range got {
		if r.DeviceID != d || r.Day != wantDays[i] {
			t.Errorf("row %d: device %q day %q, want %q %q", i, r.DeviceID, r.Day, d, wantDays[i])
		}
		if r.WriteTime.Before(before) || r.WriteTime.After(after) {
			t.Errorf("row %d: write time %s outside [%s, %s]", i, r.WriteTime, before, after)
		}
		if r.WriteTime.UnixMicro()*1000 != r.WriteTime.UnixNano() {
			t.Errorf("row %d: write time %s finer than a microsecond", i, r.WriteTime)
		}
	}
	if m := got[0].Metrics; !maps.Equal(m, map[string]float64{"temperature": 1, "humidity": 40.5}) {
		t.Errorf("metrics = %v", m)
	}
	if got[1].Metrics["temperature"] != 1.5 {
		t.Errorf("metrics of (5ms, seq 1) = %v", got[1].Metrics)
	}
}

func testRewrite(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	d := dev("a")
	write(t, s, store.Row{DeviceID: d, Time: base, Seq: 7, Metrics: map[string]float64{"temperature": 1, "no2": 2}})
	q := store.Query{DeviceID: d, From: base.Add(-time.Minute), To: base.Add(time.Minute)}
	first := read(t, s, q)
	time.Sleep(5 * time.Millisecond)
	before, _ := write(t, s, store.Row{DeviceID: d, Day: store.DayOf(base), Time: base, Seq: 7, Metrics: map[string]float64{"temperature": 3}})
	got := read(t, s, q)
	if len(got) != 1 {
		t.Fatalf("rewrite left %d rows, want 1", len(got))
	}
	// The metrics map is replaced as a whole: the dropped no2 must not linger.
	if !maps.Equal(got[0].Metrics, map[string]float64{"temperature": 3}) {
		t.Errorf("metrics after rewrite = %v", got[0].Metrics)
	}
	if !got[0].WriteTime.After(first[0].WriteTime) || got[0].WriteTime.Before(before) {
		t.Errorf("write time %s did not move past %s", got[0].WriteTime, first[0].WriteTime)
	}
}

func testMillisecondKey(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	d := dev("a")
	at := base.Add(-time.Hour).Add(123 * time.Microsecond)
	write(t, s, row(d, at, 1, 1), row(d, at.Add(500*time.Microsecond), 1, 2))
	got := read(t, s, store.Query{DeviceID: d, From: at.Add(-time.Second), To: at.Add(time.Second)})
	if len(got) != 1 {
		t.Fatalf("%d rows, want 1: times within one millisecond share a key", len(got))
	}
	if !got[0].Time.Equal(at.Truncate(time.Millisecond)) || got[0].Metrics["temperature"] != 2 {
		t.Errorf("row = %+v, want time %s and the later metrics", got[0], at.Truncate(time.Millisecond))
	}
}

func testTimeRange(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	d := dev("a")
	var rows []store.Row
	for i := range 10 {
		rows = append(rows, row(d, base.Add(time.Duration(i)*10*time.Millisecond), uint64(i+1), float64(i)))
	}
	write(t, s, rows...)
	tests := []struct {
		from, to time.Duration
		want     []uint64
	}{
		{0, 30 * time.Millisecond, []uint64{1, 2, 3}},               // To is exclusive
		{10 * time.Millisecond, 11 * time.Millisecond, []uint64{2}}, // From is inclusive
		{15 * time.Millisecond, 35 * time.Millisecond, []uint64{3, 4}},
		{-time.Hour, -time.Minute, nil},
		{30 * time.Millisecond, 30 * time.Millisecond, nil}, // empty range
		{50 * time.Millisecond, 20 * time.Millisecond, nil}, // inverted range
		{-48 * time.Hour, 48 * time.Hour, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	}
	for _, tc := range tests {
		got := read(t, s, store.Query{DeviceID: d, From: base.Add(tc.from), To: base.Add(tc.to)})
		var seqs []uint64
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		if !reflect.DeepEqual(seqs, tc.want) {
			t.Errorf("[%s, %s): seqs %v, want %v", tc.from, tc.to, seqs, tc.want)
		}
	}
}

func testLimits(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	d := dev("a")
	n := store.DefaultLimit + 7
	rows := make([]store.Row, n)
	for i := range rows {
		// Start a day earlier so the rows span the midnight partition boundary.
		rows[i] = row(d, base.Add(-time.Duration(n/2)*time.Millisecond+time.Duration(i)*time.Millisecond), uint64(i+1), float64(i))
	}
	write(t, s, rows...)
	q := store.Query{DeviceID: d, From: base.Add(-time.Hour), To: base.Add(time.Hour)}
	tests := []struct {
		limit, want int
	}{
		{0, store.DefaultLimit},
		{3, 3},
		{n - 1, n - 1},
		{n + 1, n},
		{store.MaxLimit, n},
	}
	for _, tc := range tests {
		q.Limit = tc.limit
		got := read(t, s, q)
		if len(got) != tc.want {
			t.Errorf("limit %d: %d rows, want %d", tc.limit, len(got), tc.want)
			continue
		}
		// A limit keeps the oldest rows, in order.
		for i, r := range got {
			if r.Seq != uint64(i+1) {
				t.Errorf("limit %d: row %d has seq %d", tc.limit, i, r.Seq)
				break
			}
		}
	}
	for _, limit := range []int{-1, store.MaxLimit + 1} {
		q.Limit = limit
		if _, err := s.Readings(ctx(t), q); err == nil {
			t.Errorf("limit %d accepted", limit)
		}
	}
}

func testRejects(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	d := dev("a")
	bad := map[string]store.Row{
		"no device":    row("", base, 1, 1),
		"no time":      row(d, time.Time{}, 1, 1),
		"no metrics":   {DeviceID: d, Time: base, Seq: 1},
		"day mismatch": {DeviceID: d, Day: "2026-11-21", Time: base, Seq: 1, Metrics: map[string]float64{"t": 1}},
	}
	for name, r := range bad {
		// A bad row poisons its whole batch: nothing of it may be stored.
		good := row(d, base.Add(-time.Minute), 99, 1)
		if err := s.WriteReadings(ctx(t), []store.Row{good, r}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got := read(t, s, store.Query{DeviceID: d, From: base.Add(-time.Hour), To: base.Add(time.Hour)}); len(got) != 0 {
		t.Errorf("rejected batches stored %d rows", len(got))
	}
	for name, q := range map[string]store.Query{
		"no device":  {From: base, To: base.Add(time.Hour)},
		"no from":    {DeviceID: d, To: base},
		"no to":      {DeviceID: d, From: base},
		"huge range": {DeviceID: d, From: base.AddDate(-5, 0, 0), To: base},
	} {
		if _, err := s.Readings(ctx(t), q); err == nil {
			t.Errorf("query %s accepted", name)
		}
	}
	if err := s.UpsertDevices(ctx(t), []store.Device{{Model: "x"}}); err == nil {
		t.Error("device without id accepted")
	}
}

func devicesWith(t *testing.T, s store.Store, prefix string) []store.Device {
	t.Helper()
	all, err := s.Devices(ctx(t))
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	var out []store.Device
	for _, d := range all {
		if strings.HasPrefix(d.ID, prefix) {
			out = append(out, d)
		}
	}
	return out
}

func testDevices(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	a, b := dev("a"), dev("b")
	seen := base.Add(-time.Hour)
	loc := map[string]string{"zip": "94103", "building": "b12"}
	up := func(ds ...store.Device) {
		t.Helper()
		if err := s.UpsertDevices(ctx(t), ds); err != nil {
			t.Fatalf("UpsertDevices: %v", err)
		}
	}
	up(store.Device{ID: b, Model: "m1", Topic: "t/b", LastSeen: seen},
		store.Device{ID: a, Model: "m1", Topic: "t/a", Location: loc, LastSeen: seen.Add(1500 * time.Microsecond)})
	// Newer sighting: advances last-seen and replaces the description.
	up(store.Device{ID: b, Model: "m2", Topic: "t/b2", Location: loc, LastSeen: seen.Add(time.Second)})
	// Older sighting arriving late: changes nothing.
	up(store.Device{ID: a, Model: "stale", Topic: "t/stale", LastSeen: seen.Add(-time.Second)})

	got := devicesWith(t, s, dev(""))
	want := []store.Device{
		{ID: a, Model: "m1", Topic: "t/a", Location: loc, LastSeen: seen.Add(time.Millisecond)},
		{ID: b, Model: "m2", Topic: "t/b2", Location: loc, LastSeen: seen.Add(time.Second)},
	}
	if len(got) != len(want) {
		t.Fatalf("devices = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Model != w.Model || g.Topic != w.Topic || !maps.Equal(g.Location, w.Location) || !g.LastSeen.Equal(w.LastSeen) {
			t.Errorf("device %d = %+v, want %+v", i, g, w)
		}
	}
}

func testConcurrent(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			d := dev(fmt.Sprint(w % 2)) // writers share devices and partitions
			for i := range perWriter {
				seq := uint64(w/2*perWriter + i + 1)
				r := row(d, base.Add(time.Duration(seq)*time.Millisecond), seq, float64(w))
				if err := s.WriteReadings(ctx(t), []store.Row{r}); err != nil {
					errs <- err
					return
				}
			}
		})
		// Readers and device upserts race the writers.
		wg.Go(func() {
			_, _ = s.Readings(ctx(t), store.Query{DeviceID: dev("0"), From: base, To: base.Add(time.Hour)})
			_ = s.UpsertDevices(ctx(t), []store.Device{{ID: dev("0"), LastSeen: base.Add(time.Duration(w) * time.Second)}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, d := range []string{dev("0"), dev("1")} {
		total += len(read(t, s, store.Query{DeviceID: d, From: base, To: base.Add(time.Hour), Limit: store.MaxLimit}))
	}
	if total != writers*perWriter {
		t.Errorf("%d rows stored, want %d", total, writers*perWriter)
	}
	if ds := devicesWith(t, s, dev("0")); len(ds) != 1 || !ds[0].LastSeen.Equal(base.Add((writers-1)*time.Second)) {
		t.Errorf("last seen after racing upserts = %+v, want %s", ds, base.Add((writers-1)*time.Second))
	}
}

func testCancelled(t *testing.T, s store.Store, dev func(string) string) {
	base := time.Unix(0, baseNs).UTC()
	c, cancel := context.WithCancel(context.Background())
	cancel()
	d := dev("a")
	if err := s.WriteReadings(c, []store.Row{row(d, base, 1, 1)}); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteReadings on cancelled context: %v", err)
	}
	if _, err := s.Readings(c, store.Query{DeviceID: d, From: base, To: base.Add(time.Hour)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Readings on cancelled context: %v", err)
	}
	if got := read(t, s, store.Query{DeviceID: d, From: base.Add(-time.Hour), To: base.Add(time.Hour)}); len(got) != 0 {
		t.Errorf("cancelled write stored %d rows", len(got))
	}
}

// BenchWrite measures WriteReadings with batches the way a sink sends them:
// batchSize rows spread over devices device partitions. It reports rows/s.
func BenchWrite(b *testing.B, s store.Store, devices, batchSize int) {
	prefix := fmt.Sprintf("bench%08x", rand.Uint32())
	at := time.Unix(0, baseNs).UTC()
	ctx := context.Background()
	seq := uint64(0)
	b.ResetTimer()
	for b.Loop() {
		rows := make([]store.Row, batchSize)
		for i := range rows {
			seq++
			rows[i] = store.Row{
				DeviceID: fmt.Sprintf("%s-%d", prefix, int(seq)%devices),
				Time:     at.Add(time.Duration(seq) * time.Millisecond),
				Seq:      seq,
				Metrics:  map[string]float64{"temperature": 28.7, "humidity": 61},
			}
		}
		if err := s.WriteReadings(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "rows/s")
}
