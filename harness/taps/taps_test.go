package taps_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/harness/taps"
	"github.com/citybench/citybench/pipeline/api"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/pipeline/store/memory"
	"github.com/citybench/citybench/scenarios"
)

// plan builds the plan of a one-fleet JSON scenario.
func plan(t *testing.T, devices int, interval, duration time.Duration) *schedule.Plan {
	t.Helper()
	sc, err := scenarios.Parse("taps.yaml", []byte(fmt.Sprintf(`
name: taps
seed: 3
warmup: 0s
duration: %s
fleets:
  - name: env
    devices: %d
    model: env-v1
    topic: city/{device}
    codec: json
    qos: 1
    sensors:
      - {metric: temperature, mean: 28.7, stddev: 3.5}
    arrival: {kind: fixed, interval: %s}
slos: [store.loss == 0]
`, duration, devices, interval)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := schedule.Build(sc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stored writes every planned message intended before until as a row, as the sink would.
func stored(t *testing.T, st store.Store, p *schedule.Plan, start time.Time, until time.Duration) int {
	t.Helper()
	n := 0
	for _, d := range p.Devices {
		var rows []store.Row
		for m := range d.All() {
			if m.At >= until {
				break
			}
			rows = append(rows, store.Row{DeviceID: d.ID, Time: start.Add(m.At), Seq: m.Seq, Metrics: map[string]float64{"temperature": m.Values[0]}})
		}
		if err := st.WriteReadings(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
		n += len(rows)
	}
	return n
}

// countingAPI serves the reference API and counts the readings it hands out.
type countingAPI struct {
	h        http.Handler
	requests atomic.Int64
	served   atomic.Int64
}

func (c *countingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	var page api.ReadingsJSON
	if json.Unmarshal(rec.Body.Bytes(), &page) == nil {
		c.requests.Add(1)
		c.served.Add(int64(len(page.Readings)))
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// TestAPITapPagesForward: a device with more readings than the API's largest
// page (10,000) is seen in full, its readings are fetched about once each (never
// the whole history per poll), and none is lost to a page limit — also those
// older than the poller's look-back, which the drain fetches.
func TestAPITapPagesForward(t *testing.T) {
	p := plan(t, 2, time.Millisecond, 12*time.Second) // 12,000 readings per device
	st := memory.New()
	start := time.Now().Add(-13 * time.Second)
	total := stored(t, st, p, start, p.End)
	srv := &countingAPI{h: api.New(st, api.WithoutDashboard())}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	led := ledger.New(p)
	led.SetStart(start)
	for _, d := range p.Devices { // the store read-back found every row
		for m := range d.All() {
			led.Observe(ledger.Store, d.Index, m.Seq, start.Add(m.At).UnixNano())
		}
	}
	tap := taps.NewAPI(taps.APIConfig{BaseURL: hs.URL, Devices: []int{0, 1}, Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tap.Start(ctx, taps.Env{Plan: p, Rec: led}); err != nil {
		t.Fatal(err)
	}
	rep := tap.Stop(ctx, p.End)
	if got := led.Delivered(ledger.API); got != int64(total) {
		t.Fatalf("api saw %d of %d readings (report %+v)", got, total, rep)
	}
	// Each page after the first repeats the readings sharing its first millisecond.
	if served := srv.served.Load(); served > int64(total)+srv.requests.Load() {
		t.Errorf("API served %d readings in %d requests for %d distinct: history fetched again", served, srv.requests.Load(), total)
	}
	if len(rep.Outages) != 0 || rep.Unverified != nil {
		t.Errorf("report %+v: want no outage", rep)
	}
}

// failingStore fails every read of the devices in fail, and the first reads of
// every other device, as a store does while it recovers.
type failingStore struct {
	store.Store
	fail      map[string]bool
	firstOnes atomic.Int64
}

func (f *failingStore) Readings(ctx context.Context, q store.Query) ([]store.Row, error) {
	if f.fail[q.DeviceID] || f.firstOnes.Add(-1) >= 0 {
		return nil, fmt.Errorf("read %s: context deadline exceeded", q.DeviceID)
	}
	return f.Store.Readings(ctx, q)
}

// TestStoreReadBackRetriesAndSeparatesUnverified: reads that fail at first are
// retried until they succeed; a device whose reads never succeed is unverified,
// not lost; a row that is really missing is lost.
func TestStoreReadBackRetriesAndSeparatesUnverified(t *testing.T) {
	p := plan(t, 4, 100*time.Millisecond, 2*time.Second)
	mem := memory.New()
	start := time.Now().Add(-3 * time.Second)
	stored(t, mem, p, start, p.End)
	// One row the pipeline really lost: delete by rewriting device 1 without its seq 5.
	lostDev := p.Devices[1]
	mem2 := memory.New()
	for _, d := range p.Devices {
		var rows []store.Row
		for m := range d.All() {
			if d == lostDev && m.Seq == 5 {
				continue
			}
			rows = append(rows, store.Row{DeviceID: d.ID, Time: start.Add(m.At), Seq: m.Seq, Metrics: map[string]float64{"temperature": 1}})
		}
		if err := mem2.WriteReadings(context.Background(), rows); err != nil {
			t.Fatal(err)
		}
	}
	st := &failingStore{Store: mem2, fail: map[string]bool{p.Devices[3].ID: true}}
	st.firstOnes.Store(6)

	led := ledger.New(p)
	led.SetStart(start)
	tap := taps.NewStore(st, 10*time.Millisecond)
	if err := tap.Start(context.Background(), taps.Env{Plan: p, Rec: led}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	rep := tap.Stop(ctx, p.End)
	sum, err := led.Summarise(ledger.Window{Until: p.End, Unverified: func(s ledger.Stage, dev int, at time.Duration) bool {
		return s == ledger.Store && rep.Unverified != nil && rep.Unverified(dev, at)
	}})
	if err != nil {
		t.Fatal(err)
	}
	var got *struct{ lost, unverified, delivered int64 }
	for _, s := range sum.Stages {
		if s.Stage == "store" {
			got = &struct{ lost, unverified, delivered int64 }{s.Delivery.Lost, s.Delivery.Unverified, s.Delivery.Delivered}
		}
	}
	perDevice := int64(p.Devices[0].Count())
	if got == nil || got.lost != 1 || got.unverified != perDevice || got.delivered != 3*perDevice-1 {
		t.Fatalf("store accounting %+v, want lost 1, unverified %d, delivered %d", got, perDevice, 3*perDevice-1)
	}
	if len(rep.Outages) == 0 || !bytes.Contains([]byte(rep.Outages[0].Reason), []byte("deadline")) {
		t.Errorf("outages %+v: want the failing reads named", rep.Outages)
	}
}
