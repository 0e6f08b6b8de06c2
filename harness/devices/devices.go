// Package devices plays the plan's simulated devices against an MQTT broker:
// one MQTT client per device (paho.mqtt.golang for 3.1.1, paho.golang for 5; see
// client.go), open-loop — every message goes out at its intended
// time whether or not earlier ones were acknowledged — recording sent and acked
// times in the ledger. Burst devices are the one closed-loop exception: they send
// back to back with at most their fleet's in-flight bound unacknowledged.
package devices

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/harness/malformed"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/scenarios"
)

// Broker is where devices connect.
type Broker struct {
	URLs     []string // devices are spread over them by location (harness/domains)
	Username string   // used when a fleet sets none
	Password string
	TLS      *tls.Config
}

// Simulator drives every device of a plan.
type Simulator struct {
	broker  Broker
	ledger  *ledger.Ledger
	plan    *schedule.Plan
	codecs  map[string]codec.Codec // by fleet name
	log     *slog.Logger
	clients []client // persistent devices; nil for connect-send-disconnect
	conns   atomic.Int64
	reconnecting
	ctl *control // downlink (control.go); nil when no device listens

	// connectParallelism bounds simultaneous CONNECTs: brokers have small listen
	// backlogs (Mosquitto's is 100), so a thousand devices connect in waves.
	connectParallelism int
	// book records the malformed messages sent (nil: the plan has none).
	book *malformed.Book
	// sourceAddrs spreads connections to loopback brokers over 127.0.0.1…n, each
	// with its own ephemeral port range (1: the kernel picks the source).
	sourceAddrs int
}

// Option configures a Simulator.
type Option func(*Simulator)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Simulator) { s.log = l } }

// WithConnectParallelism bounds simultaneous connection attempts (default 64).
func WithConnectParallelism(n int) Option { return func(s *Simulator) { s.connectParallelism = n } }

// WithSourceAddrs spreads connections to loopback brokers over n loopback source
// addresses (127.0.0.1 … 127.0.0.n), so one process is not bound by one address's
// ephemeral ports.
func WithSourceAddrs(n int) Option { return func(s *Simulator) { s.sourceAddrs = n } }

// WithMalformedBook records every malformed message sent in b.
func WithMalformedBook(b *malformed.Book) Option { return func(s *Simulator) { s.book = b } }

// New prepares a simulator; nothing connects until Connect.
func New(b Broker, l *ledger.Ledger, opts ...Option) (*Simulator, error) {
	if len(b.URLs) == 0 {
		return nil, errors.New("devices: no broker URL")
	}
	s := &Simulator{broker: b, ledger: l, plan: l.Plan(), codecs: map[string]codec.Codec{}, log: slog.Default(), connectParallelism: 64}
	for _, o := range opts {
		o(s)
	}
	for _, d := range s.plan.Devices {
		if _, ok := s.codecs[d.Fleet.Name]; ok {
			continue
		}
		c, err := codec.ByName(d.Fleet.Codec)
		if err != nil {
			return nil, fmt.Errorf("fleet %s: %w", d.Fleet.Name, err)
		}
		s.codecs[d.Fleet.Name] = c
	}
	s.clients = make([]client, len(s.plan.Devices))
	s.storms = newStorms(s.plan)
	return s, nil
}

// Connections is the number of device connections open now.
func (s *Simulator) Connections() int64 { return s.conns.Load() }

func (s *Simulator) clientOptions(d *schedule.Device) *mqtt.ClientOptions {
	f := d.Fleet
	brokerURL := s.brokerURL(d)
	o := mqtt.NewClientOptions()
	if s.sourceAddrs > 1 && limits.IsLoopback(brokerURL) {
		// Before SetConnectTimeout, which sets the dialer's timeout.
		o.SetDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: limits.SourceAddr(d.Index, s.sourceAddrs)}})
	}
	o.AddBroker(brokerURL).
		SetClientID(d.ID).
		SetCleanSession(f.CleanSession == nil || *f.CleanSession).
		SetKeepAlive(max(f.KeepAlive.D(), time.Second)).
		SetConnectTimeout(10 * time.Second).
		SetAutoReconnect(f.Connection != "connect-send-disconnect").
		SetMaxReconnectInterval(2 * time.Second).
		SetOrderMatters(false).
		SetWriteTimeout(10 * time.Second)
	user, pass := f.Username, f.Password
	if user == "" {
		user, pass = s.broker.Username, s.broker.Password
	}
	if user != "" {
		o.SetUsername(user).SetPassword(pass)
	}
	if s.broker.TLS != nil {
		o.SetTLSConfig(s.broker.TLS)
	}
	if w := f.Will; w != nil {
		o.SetWill(d.WillTopic(), w.Payload, byte(w.QoS), w.Retain)
	}
	o.SetOnConnectHandler(func(c mqtt.Client) {
		s.conns.Add(1)
		s.resubscribeControl(c, d)
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		s.conns.Add(-1)
		s.ledger.Error(time.Now().UnixNano())
		s.log.Warn("device connection lost", "device", d.ID, "err", err)
	})
	return o
}

// Connect opens the connections of every persistent device, in bounded waves.
// It fails if any device cannot connect, naming the first failure.
func (s *Simulator) Connect(ctx context.Context) error {
	sem := make(chan struct{}, s.connectParallelism)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	for _, d := range s.plan.Devices {
		if d.Fleet.Connection == "connect-send-disconnect" || !d.HasMessages() {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func(d *schedule.Device) {
			defer wg.Done()
			defer func() { <-sem }()
			c := s.newClient(d)
			if _, err := c.Connect(ctx); err != nil {
				failed.Add(1)
				once.Do(func() {
					firstErr = fmt.Errorf("connect device %s to %s: %w", d.ID, s.brokerURL(d), err)
				})
				return
			}
			if err := s.subscribeControl(ctx, c, d); err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = err })
				return
			}
			s.clients[d.Index] = c
		}(d)
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d devices could not connect; first: %w", n, firstErr)
	}
	return nil
}

func waitToken(ctx context.Context, t token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run sends every planned message with an intended offset before until, each at
// its time, and returns once all were handed to their clients and acknowledged
// (or ackWait passed after the last send, or ctx ended). Offsets are from the
// ledger's start.
func (s *Simulator) Run(ctx context.Context, until time.Duration, ackWait time.Duration) {
	defer s.startStorms(ctx)()
	var wg sync.WaitGroup
	for _, d := range s.plan.Devices {
		if !d.HasMessages() {
			continue
		}
		wg.Add(1)
		go func(d *schedule.Device) {
			defer wg.Done()
			s.runDevice(ctx, d, until, ackWait)
		}(d)
	}
	wg.Wait()
}

type pending struct {
	seq   uint64
	token token
}

// ackHorizon is how long a device's publishes may wait for their
// acknowledgements before its send loop waits for them (and the generator's lag
// shows it): two minutes of readings, enough to ride out a broker restart.
const ackHorizon = 2 * time.Minute

// ackQueue sizes a device's queue of publishes awaiting acknowledgement to
// ackHorizon of its readings (a burst device has at most Inflight), within
// [16, 1024]. Each slot costs 24 B per device whether used or not: a fixed 1,024
// cost 24 KiB for each of a city's meters that sends once a minute.
func ackQueue(a scenarios.Arrival) int {
	const least, most = 16, 1024
	switch {
	case a.Burst():
		return max(a.Inflight, 1)
	case a.Interval.D() <= 0:
		return most
	}
	return min(max(int(ackHorizon/a.Interval.D())+1, least), most)
}

func (s *Simulator) runDevice(ctx context.Context, d *schedule.Device, until, ackWait time.Duration) {
	var freed chan int64 // burst devices: one value per free in-flight slot, the moment it freed
	if d.Fleet.Arrival.Burst() {
		freed = make(chan int64, d.Fleet.Arrival.Inflight)
		for range d.Fleet.Arrival.Inflight {
			freed <- 0 // free from the start: the first messages are due at the device's start
		}
	}
	acks := make(chan pending, ackQueue(d.Fleet.Arrival))
	ackDone := make(chan struct{})
	// Acks outlive the send loop by at most ackWait, even after ctx ends, so an
	// interrupted run still records what the broker acknowledged.
	ackCtx, stopAcks := context.WithCancel(context.WithoutCancel(ctx))
	go func() { // one goroutine per device records its acks, as the ledger requires
		defer close(ackDone)
		s.recordAcks(ackCtx, d, acks, freed)
	}()
	defer func() {
		close(acks)
		grace := time.AfterFunc(ackWait, stopAcks)
		<-ackDone
		grace.Stop()
		stopAcks()
	}()
	if freed != nil {
		s.sendBurst(ctx, d, until, acks, freed)
		return
	}
	s.sendOnTime(ctx, d, until, acks)
}

// sendOnTime sends each message at its planned time (open loop).
func (s *Simulator) sendOnTime(ctx context.Context, d *schedule.Device, until time.Duration, acks chan<- pending) {
	start := s.ledger.Start()
	qos := byte(d.Fleet.QoS)
	metrics := make(map[string]float64, len(d.Metrics))
	due := schedule.NewDue(start)
	defer due.Stop()
	for msg := range d.All() {
		m := &msg
		if m.At >= until || !due.Wait(ctx, m.At) {
			return
		}
		payload, err := s.payload(d, m, start.Add(m.At).UnixNano(), metrics)
		if err != nil {
			s.ledger.Error(time.Now().UnixNano())
			s.log.Error("encode reading", "device", d.ID, "seq", m.Seq, "err", err)
			continue
		}
		if d.Fleet.Connection == "connect-send-disconnect" {
			s.sendOnce(ctx, d, m, payload)
			continue
		}
		c := s.clients[d.Index]
		if c == nil {
			s.ledger.Error(time.Now().UnixNano())
			continue
		}
		s.ledger.SetIntended(d.Index, m.Seq, start.Add(m.At).UnixNano())
		s.ledger.Observe(ledger.Sent, d.Index, m.Seq, time.Now().UnixNano())
		s.ledger.AddBytes(ledger.Sent, d.Index, len(payload))
		tok := c.Publish(publication{Topic: m.Topic, QoS: qos, Retain: d.Fleet.Retain, Payload: payload, DeviceID: d.ID, Seq: m.Seq, Intended: start.Add(m.At).UnixNano()})
		s.reportSeverity(c, d, m)
		if qos == 0 {
			continue
		}
		select {
		case acks <- pending{seq: m.Seq, token: tok}:
		case <-ctx.Done():
			return
		}
	}
}

// sendBurst sends the device's messages back to back, each as soon as one of its
// in-flight slots frees (at QoS 0, once the previous publish was written). A
// message's intended time is the moment its slot freed — the device's start for
// the first ones — so latency still counts any wait for the system. Sending stops
// at until: what is left unsent then shows as not sent.
func (s *Simulator) sendBurst(ctx context.Context, d *schedule.Device, until time.Duration, acks chan<- pending, freed <-chan int64) {
	start := s.ledger.Start()
	c := s.clients[d.Index]
	if c == nil {
		s.ledger.Error(time.Now().UnixNano())
		return
	}
	metrics := make(map[string]float64, len(d.Metrics))
	bound := time.NewTimer(time.Until(start.Add(until)))
	defer bound.Stop()
	if m, ok := d.Cursor().Next(); ok {
		first := time.NewTimer(time.Until(start.Add(m.At)))
		defer first.Stop()
		select {
		case <-first.C:
		case <-bound.C:
			return
		case <-ctx.Done():
			return
		}
	}
	for msg := range d.All() {
		m := &msg
		var slot int64
		select {
		case slot = <-freed:
		case <-bound.C:
			return
		case <-ctx.Done():
			return
		}
		due := max(slot, start.Add(m.At).UnixNano())
		s.ledger.SetIntended(d.Index, m.Seq, due)
		payload, err := s.payload(d, m, due, metrics)
		if err != nil {
			s.ledger.Error(time.Now().UnixNano())
			s.log.Error("encode reading", "device", d.ID, "seq", m.Seq, "err", err)
			return // every later message would fail alike
		}
		s.ledger.Observe(ledger.Sent, d.Index, m.Seq, time.Now().UnixNano())
		s.ledger.AddBytes(ledger.Sent, d.Index, len(payload))
		tok := c.Publish(publication{Topic: m.Topic, QoS: byte(d.Fleet.QoS), Retain: d.Fleet.Retain, Payload: payload, DeviceID: d.ID, Seq: m.Seq, Intended: due})
		select {
		case acks <- pending{seq: m.Seq, token: tok}:
		case <-ctx.Done():
			return
		}
	}
}

// recordAcks records each publish's acknowledgement and, for a burst device,
// frees its in-flight slot (freed is nil otherwise). A publish that failed frees
// its slot too: the error is counted and the burst goes on.
func (s *Simulator) recordAcks(ctx context.Context, d *schedule.Device, acks <-chan pending, freed chan<- int64) {
	for p := range acks {
		select {
		case <-p.token.Done():
		case <-ctx.Done():
		}
		if !tokenDone(p.token) {
			continue // never acknowledged within the grace: the ledger shows it as not acked
		}
		now := time.Now().UnixNano()
		switch {
		case p.token.Error() != nil:
			s.ledger.Error(now)
		case d.Fleet.QoS > 0:
			s.ledger.Observe(ledger.Acked, d.Index, p.seq, now)
		}
		if freed != nil {
			freed <- now // never blocks: at most Inflight publishes hold a slot
		}
	}
}

func tokenDone(t token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// sendOnce is the alert-based testbench's node: connect, publish, wait for the
// acknowledgement, disconnect.
func (s *Simulator) sendOnce(ctx context.Context, d *schedule.Device, m *schedule.Message, payload []byte) {
	c := s.newClient(d)
	if _, err := c.Connect(ctx); err != nil {
		s.ledger.Error(time.Now().UnixNano())
		s.log.Warn("connect-send-disconnect: connect", "device", d.ID, "err", err)
		return
	}
	defer func() {
		c.Disconnect(100 * time.Millisecond)
		s.conns.Add(-1)
	}()
	s.ledger.Observe(ledger.Sent, d.Index, m.Seq, time.Now().UnixNano())
	s.ledger.AddBytes(ledger.Sent, d.Index, len(payload))
	tok := c.Publish(publication{Topic: m.Topic, QoS: byte(d.Fleet.QoS), Retain: d.Fleet.Retain, Payload: payload, DeviceID: d.ID, Seq: m.Seq, Intended: s.ledger.Start().Add(m.At).UnixNano()})
	if err := waitToken(ctx, tok); err != nil {
		s.ledger.Error(time.Now().UnixNano())
		return
	}
	if d.Fleet.QoS > 0 {
		s.ledger.Observe(ledger.Acked, d.Index, m.Seq, time.Now().UnixNano())
	}
}

// payload encodes message m of device d, intended at unix ns, with metrics as
// the device's reading map (see reading); a message the plan marks malformed is
// spoilt as its kind says and recorded in the book.
func (s *Simulator) payload(d *schedule.Device, m *schedule.Message, intended int64, metrics map[string]float64) ([]byte, error) {
	cd := s.codecs[d.Fleet.Name]
	r := reading(d, m, intended, metrics)
	b, err := cd.Encode(r)
	if err != nil || m.Malformed == 0 {
		return b, err
	}
	kind := d.MalformedKind(m)
	if b, err = malformed.Payload(kind, cd, r, b); err != nil {
		return nil, err
	}
	if s.book != nil {
		s.book.Sent(d.Index, m.Seq, kind, b)
	}
	return b, nil
}

// reading is message m's payload, sampled at its intended time (unix ns). Its
// metrics go into metrics, cleared first: the device's one map, reused for every
// message because neither codecs nor malformed payloads keep a reading.
func reading(d *schedule.Device, m *schedule.Message, intended int64, metrics map[string]float64) codec.Reading {
	clear(metrics)
	if m.Metric >= 0 {
		metrics[d.Metrics[m.Metric]] = m.Values[m.Metric]
	} else {
		for i, name := range d.Metrics {
			if !math.IsNaN(m.Values[i]) { // a replayed recording's empty cell: not sent, never guessed
				metrics[name] = m.Values[i]
			}
		}
	}
	return codec.Reading{DeviceID: d.ID, Seq: m.Seq, SampleTimeNs: intended, Model: d.Fleet.Model, Metrics: metrics}
}

// Disconnect closes every persistent connection, giving each quiesceMs to flush.
func (s *Simulator) Disconnect(quiesce time.Duration) {
	var wg sync.WaitGroup
	for i, c := range s.clients {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.IsConnected() {
				s.conns.Add(-1)
			}
			c.Disconnect(quiesce)
		}()
		s.clients[i] = nil
	}
	wg.Wait()
}
