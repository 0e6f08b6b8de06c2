package devices

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/cenkalti/backoff/v4"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// lossBackoff is how a linked device reconnects after a connection loss it did
// not cause itself — as paho's own reconnect does for 3.1.1 devices.
var lossBackoff = scenarios.Backoff{Initial: scenarios.Duration(500 * time.Millisecond), Max: scenarios.Duration(2 * time.Second), Multiplier: 2, Jitter: 0.5}

// link keeps one device connected: it reconnects whenever the connection is
// lost, and readings due while it is disconnected wait on the device, in order,
// and are published once it is connected again (their intended time stays, so
// latency counts the outage).
type link struct {
	s     *Simulator
	d     *schedule.Device
	c     conn
	storm *storm // the fleet's reconnect storm; nil without one

	mu       sync.Mutex
	up       bool
	queue    []queued
	stop     chan struct{} // closed by Disconnect
	watching sync.WaitGroup
	dropping atomic.Bool // the current loss is the storm's
}

type queued struct {
	p   publication
	tok *doneToken
}

func (s *Simulator) newLink(d *schedule.Device, c conn) *link {
	return &link{s: s, d: d, c: c, storm: s.storms[d.Fleet.Name], stop: make(chan struct{})}
}

func (l *link) Connect(ctx context.Context) (connack, error) {
	ca, err := l.c.Connect(ctx)
	if err != nil {
		return ca, err
	}
	l.mu.Lock()
	l.up = true
	l.mu.Unlock()
	l.watching.Add(1)
	go l.watch()
	return ca, nil
}

// watch reconnects after every loss until Disconnect.
func (l *link) watch() {
	defer l.watching.Done()
	for {
		select {
		case <-l.c.Lost():
		case <-l.stop:
			return
		}
		l.mu.Lock()
		l.up = false
		l.mu.Unlock()
		b, rec := lossBackoff, (*storm)(nil)
		if l.dropping.Load() {
			b, rec = l.storm.cfg.Backoff, l.storm
		} else {
			l.s.ledger.Error(time.Now().UnixNano())
			l.s.log.Warn("device connection lost", "device", l.d.ID)
		}
		if !l.reconnect(b, rec) {
			return
		}
		l.dropping.Store(false)
	}
}

// reconnect tries until connected (true) or Disconnect (false), recording each
// attempt in rec when the loss was the storm's.
func (l *link) reconnect(b scenarios.Backoff, rec *storm) bool {
	bo := &backoff.ExponentialBackOff{InitialInterval: b.Initial.D(), RandomizationFactor: b.Jitter, Multiplier: b.Multiplier,
		MaxInterval: b.Max.D(), Stop: backoff.Stop, Clock: backoff.SystemClock}
	bo.Reset() // MaxElapsedTime 0: retry until the run ends
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Reset(bo.NextBackOff())
		select {
		case <-timer.C:
		case <-l.stop:
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		start := time.Now()
		ca, err := l.c.Connect(ctx)
		cancel()
		rec.attempt(start, time.Now(), ca, err)
		if err == nil {
			l.flush()
			return true
		}
	}
}

// flush publishes what waited, then lets new publishes through; the lock keeps
// them in order.
func (l *link) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.queue {
		forward(l.c.Publish(q.p), q.tok)
	}
	l.queue = nil
	l.up = true
}

// forward completes outer with inner's outcome.
func forward(inner token, outer *doneToken) {
	select {
	case <-inner.Done():
		outer.complete(inner.Error())
	default:
		go func() {
			<-inner.Done()
			outer.complete(inner.Error())
		}()
	}
}

func (l *link) Publish(p publication) token {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up {
		t := l.c.Publish(p)
		if !notConnected(t) {
			return t
		}
		// The connection went away under it: it waits like the others.
	}
	tok := newDoneToken()
	l.queue = append(l.queue, queued{p: p, tok: tok})
	l.s.queued.Add(1)
	if l.storm != nil {
		l.storm.queued.Add(1)
	}
	return tok
}

// notConnected reports whether t failed at once for want of a connection.
func notConnected(t token) bool {
	select {
	case <-t.Done():
		err := t.Error()
		return errors.Is(err, errNotConnected) || errors.Is(err, mqtt.ErrNotConnected)
	default:
		return false
	}
}

// errQueuedAtEnd fails readings that were still waiting for a connection when
// the device disconnected for good: handed to the device, never published.
var errQueuedAtEnd = errors.New("still waiting for a connection when the run ended: never published")

func (l *link) Disconnect(quiesce time.Duration) {
	close(l.stop)
	l.watching.Wait()
	l.mu.Lock()
	for _, q := range l.queue {
		q.tok.complete(errQueuedAtEnd)
	}
	l.queue = nil
	l.up = false
	l.mu.Unlock()
	l.c.Disconnect(quiesce)
}

func (l *link) IsConnected() bool { return l.c.IsConnected() }

// drop loses the connection on purpose; watch then reconnects with the storm's backoff.
func (l *link) drop() bool {
	l.mu.Lock()
	up := l.up
	l.mu.Unlock()
	if !up {
		return false
	}
	l.dropping.Store(true)
	l.c.Drop()
	return true
}

// storm is one fleet's reconnect storm and what its reconnects measured.
type storm struct {
	fleet    string
	protocol string
	cfg      scenarios.Reconnect
	kept     bool
	queued   atomic.Int64

	mu         sync.Mutex
	devices    int
	droppedAt  time.Time
	dropped    int
	reconnects int
	resumed    int
	attempts   int64
	netFails   int64
	refused    map[byte]int64
	latency    *hdrhistogram.Histogram // µs
	perSecond  []int64
	last       time.Time
}

func newStorm(f *scenarios.Fleet) *storm {
	return &storm{fleet: f.Name, protocol: f.Protocol, cfg: *f.Reconnect, kept: f.KeepsSession(), refused: map[byte]int64{},
		latency: hdrhistogram.New(1, (10 * time.Minute).Microseconds(), 3)}
}

// attempt records one reconnect attempt (nil s: a loss the storm did not cause).
func (s *storm) attempt(start, end time.Time, ca connack, err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	switch {
	case err == nil:
		s.reconnects++
		if ca.SessionPresent {
			s.resumed++
		}
		_ = s.latency.RecordValue(max(end.Sub(start).Microseconds(), 1))
		sec := int(end.Sub(s.droppedAt) / time.Second)
		for len(s.perSecond) <= sec {
			s.perSecond = append(s.perSecond, 0)
		}
		s.perSecond[sec]++
		s.last = end
	case ca.Code != 0:
		s.refused[ca.Code]++
	default:
		s.netFails++
	}
}

// play drops every selected connection of the fleet at the storm's moment.
func (s *storm) play(ctx context.Context, start time.Time, links []*link) {
	timer := time.NewTimer(time.Until(start.Add(s.cfg.At.D())))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return
	}
	s.mu.Lock()
	s.devices = len(links)
	s.droppedAt = time.Now()
	s.mu.Unlock()
	n := 0
	for i, l := range links {
		if selected(i, s.cfg.Fraction) && l.drop() {
			n++
		}
	}
	s.mu.Lock()
	s.dropped = n
	s.mu.Unlock()
}

// selected spreads a fraction over a fleet's devices evenly: device i is
// chosen when the running count of chosen devices steps up at i.
func selected(i int, fraction float64) bool {
	return int(float64(i+1)*fraction) > int(float64(i)*fraction)
}

// codeName names a CONNACK code: 3.1.1 return codes and MQTT 5 reason codes
// are different tables.
func (s *storm) codeName(c byte) string {
	if s.protocol == scenarios.Protocol5 {
		return reasonName(c)
	}
	names := []string{"accepted", "unacceptable protocol version", "identifier rejected", "server unavailable", "bad user name or password", "not authorized"}
	if int(c) < len(names) {
		return fmt.Sprintf("%d %s", c, names[c])
	}
	return fmt.Sprintf("%d unknown", c)
}

// report is the storm as the result shows it (origin: the run's offset 0).
func (s *storm) report(origin time.Time) result.ReconnectStorm {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := result.ReconnectStorm{Fleet: s.fleet, Devices: s.devices, Dropped: s.dropped, Reconnected: s.reconnects,
		SessionKept: s.kept, SessionResumed: s.resumed, Attempts: s.attempts, NetworkFailures: s.netFails,
		ConnectLatency: ledger.Quantiles(s.latency), ConnectsPerSecond: append([]int64{}, s.perSecond...), Queued: s.queued.Load()}
	if s.droppedAt.IsZero() {
		return out
	}
	out.AtS = s.droppedAt.Sub(origin).Seconds()
	if enc, err := s.latency.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
		out.ConnectLatencyHDR = string(enc)
	}
	codes := make([]byte, 0, len(s.refused))
	for c := range s.refused {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	for _, c := range codes {
		if out.ConnackFailures == nil {
			out.ConnackFailures = map[string]int64{}
		}
		out.ConnackFailures[s.codeName(c)] = s.refused[c]
	}
	for _, n := range s.perSecond {
		out.ConnectRatePeak = max(out.ConnectRatePeak, float64(n))
	}
	if s.reconnects >= s.dropped && s.dropped > 0 {
		out.EndS = s.last.Sub(origin).Seconds()
		if d := s.last.Sub(s.droppedAt).Seconds(); d > 0 {
			out.ConnectRateMean = float64(s.reconnects) / d
		}
	}
	return out
}

// reconnecting is the Simulator's part in reconnects: the fleets' storms, the
// MQTT 5 reason codes and readings that waited for a connection.
type reconnecting struct {
	storms  map[string]*storm // by fleet name
	reasons reasonCounts
	queued  atomic.Int64 // readings that waited for a connection
}

func newStorms(plan *schedule.Plan) map[string]*storm {
	out := map[string]*storm{}
	for _, d := range plan.Devices {
		if f := d.Fleet; f.Reconnect != nil && out[f.Name] == nil {
			out[f.Name] = newStorm(f)
		}
	}
	return out
}

// startStorms plays every fleet's storm on the ledger's time line; the
// returned function cancels storms not yet started and waits for the others.
func (s *Simulator) startStorms(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, st := range s.storms {
		var links []*link
		for _, c := range s.clients {
			if l, ok := c.(*link); ok && l.storm == st {
				links = append(links, l)
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.play(ctx, s.ledger.Start(), links)
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// Reconnects are the fleets' reconnect storms so far, in fleet order.
func (s *Simulator) Reconnects() []result.ReconnectStorm {
	var out []result.ReconnectStorm
	seen := map[string]bool{}
	for _, d := range s.plan.Devices {
		if st := s.storms[d.Fleet.Name]; st != nil && !seen[st.fleet] {
			seen[st.fleet] = true
			out = append(out, st.report(s.ledger.Start()))
		}
	}
	return out
}

// Counters are the devices' own counts for the result: readings that waited
// for a connection, and those still waiting now (never published).
func (s *Simulator) Counters() map[string]int64 {
	out := map[string]int64{}
	if n := s.queued.Load(); n > 0 {
		out["device_queued_while_disconnected"] = n
	}
	var waiting int64
	for _, c := range s.clients {
		if l, ok := c.(*link); ok {
			l.mu.Lock()
			waiting += int64(len(l.queue))
			l.mu.Unlock()
		}
	}
	if waiting > 0 {
		out["device_queued_never_published"] = waiting
	}
	return out
}
