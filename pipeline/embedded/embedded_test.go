package embedded

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/pipeline/bridge"
	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/pipeline/topics"
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CITYBENCH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func start(t *testing.T, opts ...Option) *Pipeline {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, append([]Option{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// fleet publishes msgs readings from each of devices devices at QoS 1 and waits
// for every PUBACK. base keeps sample times distinct between calls.
type fleet struct {
	devices, msgs int
	base          time.Time
	firstSeq      int
	tls           *tls.Config
	interval      time.Duration // pause between a device's publishes; 0 publishes back to back
	user, pass    string
}

func deviceID(d int) string { return fmt.Sprintf("dev-%03d", d) }

func (f fleet) publish(ctx context.Context, t testing.TB, url string, between func(seq int)) {
	t.Helper()
	cd := codec.JSON()
	var wg sync.WaitGroup
	errs := make(chan error, f.devices)
	for d := range f.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := mqtt.NewClientOptions().AddBroker(url).
				SetClientID(fmt.Sprintf("test-%s-%d", deviceID(d), f.firstSeq)).
				SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
			if f.tls != nil {
				opts.SetTLSConfig(f.tls.Clone())
			}
			if f.user != "" {
				opts.SetUsername(f.user).SetPassword(f.pass)
			}
			c := mqtt.NewClient(opts)
			if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				errs <- fmt.Errorf("connect %s: %v", deviceID(d), tok.Error())
				return
			}
			defer c.Disconnect(100)
			toks := make([]mqtt.Token, 0, f.msgs)
			for i := range f.msgs {
				seq := f.firstSeq + i
				if d == 0 && between != nil {
					between(seq)
				}
				payload, err := cd.Encode(codec.Reading{
					DeviceID:     deviceID(d),
					Seq:          uint64(seq),
					SampleTimeNs: f.base.Add(time.Duration(seq) * time.Millisecond).UnixNano(),
					Model:        "env-v2",
					Metrics:      map[string]float64{"temperature": 20 + float64(seq%10)},
				})
				if err != nil {
					errs <- err
					return
				}
				toks = append(toks, c.Publish("city/"+deviceID(d)+"/env", 1, false, payload))
				if f.interval > 0 {
					time.Sleep(f.interval) // the device's rate, not a wait for anything
				}
			}
			for _, tok := range toks {
				select {
				case <-tok.Done():
					if tok.Error() != nil {
						errs <- tok.Error()
						return
					}
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("publish: %v", err)
	}
}

func publishMalformed(t *testing.T, url string, n int) {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("test-broken").SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	bad := [][]byte{
		[]byte("{not json"),
		[]byte(`{"seq":1,"sample_time_ns":1,"metrics":{"t":1}}`), // no device_id
		[]byte{0xff, 0xfe, 0x00},
		[]byte(""),
		[]byte(`{"device_id":"x","seq":1,"metrics":{"t":1}}`), // no sample time
	}
	for i := range n {
		tok := c.Publish(fmt.Sprintf("city/broken-%d/env", i%7), 1, false, bad[i%len(bad)])
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish malformed: %v", tok.Error())
		}
	}
}

// waitRows polls until the store holds want rows or the deadline passes.
func waitRows(ctx context.Context, t testing.TB, p *Pipeline, want int) {
	t.Helper()
	for p.Store.Count() < want {
		select {
		case <-ctx.Done():
			t.Fatalf("store has %d rows, want %d (counters %v)", p.Store.Count(), want, p.Counters())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkEachOnce reads every device back and checks seqs 1..msgs are each stored once.
func checkEachOnce(ctx context.Context, t *testing.T, st store.Store, devices, msgs int, base time.Time) {
	t.Helper()
	for d := range devices {
		rows, err := st.Readings(ctx, store.Query{
			DeviceID: deviceID(d), From: base, To: base.Add(time.Hour), Limit: 10 * msgs,
		})
		if err != nil {
			t.Fatalf("Readings(%s): %v", deviceID(d), err)
		}
		seen := map[uint64]int{}
		for _, r := range rows {
			seen[r.Seq]++
		}
		for s := 1; s <= msgs; s++ {
			if seen[uint64(s)] != 1 {
				t.Fatalf("device %s seq %d stored %d times", deviceID(d), s, seen[uint64(s)])
			}
		}
		if len(rows) != msgs {
			t.Fatalf("device %s: %d rows, want %d", deviceID(d), len(rows), msgs)
		}
	}
}

// deadLetters reads the whole dead-letter topic.
func deadLetters(ctx context.Context, t *testing.T, p *Pipeline) []kafka.Message {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", p.KafkaBrokers[0], p.DeadLetterTopic, 0)
	if err != nil {
		t.Fatalf("dial dlq leader: %v", err)
	}
	last, err := conn.ReadLastOffset()
	conn.Close()
	if err != nil {
		t.Fatalf("dlq last offset: %v", err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: p.KafkaBrokers, Topic: p.DeadLetterTopic, Partition: 0, MaxWait: 50 * time.Millisecond,
	})
	defer r.Close()
	var out []kafka.Message
	for int64(len(out)) < last {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read dlq after %d of %d: %v", len(out), last, err)
		}
		out = append(out, m)
	}
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestEndToEnd(t *testing.T) {
	const devices, msgs, malformed = 100, 100, 50
	p := start(t, WithBridges(2), WithSinks(2))
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()

	base := time.Now().UTC().Truncate(time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		publishMalformed(t, p.MQTTURL, malformed)
	}()
	fleet{devices: devices, msgs: msgs, base: base, firstSeq: 1}.publish(ctx, t, p.MQTTURL, nil)
	<-done

	waitRows(ctx, t, p, devices*msgs)
	checkEachOnce(ctx, t, p.Store, devices, msgs, base)

	// Wait for the dead letters the bridges count, then read them all back.
	for p.Counters()["bridge_dead_lettered"] < malformed && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	dl := deadLetters(ctx, t, p)
	if len(dl) != malformed {
		for _, m := range dl[:min(5, len(dl))] {
			t.Logf("off=%d key=%s headers=%v", m.Offset, m.Key, m.Headers)
		}
		t.Logf("counters %v", p.Counters())
		t.Fatalf("dead-letter topic holds %d records, want %d", len(dl), malformed)
	}
	for _, m := range dl {
		if header(m, bridge.HeaderReason) == "" || header(m, bridge.HeaderSourceTopic) == "" {
			t.Fatalf("dead letter without reason or source topic: headers %v", m.Headers)
		}
	}
	if got := p.Store.Count(); got != devices*msgs {
		t.Fatalf("store holds %d rows after the dead letters, want %d", got, devices*msgs)
	}
	if d := p.InflightDropped(); d != 0 {
		t.Fatalf("broker dropped %d in-flight messages", d)
	}
	c := p.Counters()
	t.Logf("counters: %v", c)
	if c["bridge_received"] < devices*msgs+malformed {
		t.Fatalf("bridges received %d messages, want at least %d", c["bridge_received"], devices*msgs+malformed)
	}
	for i, b := range p.bridgeInstances() {
		if b.Stats().Received == 0 {
			t.Errorf("bridge %d received nothing: the share group did not split the load", i)
		}
	}
	for i, s := range p.sinkInstances() {
		if s.Stats().Written == 0 {
			t.Errorf("sink %d wrote nothing: the consumer group did not split the partitions", i)
		}
	}
}

// TestTemplateLocationReachesDevices sends the smart-city blog's plain text
// payloads on its topic layout: the device id and metric come from the topic,
// the location travels bridge → Kafka header → sink → store, and a topic outside
// the layout is dead-lettered as unroutable rather than guessed at.
func TestTemplateLocationReachesDevices(t *testing.T) {
	tpl := topics.MustParse(topics.HypoCityPattern)
	p := start(t, WithTopicTemplate(tpl), WithCodec(codec.Text(codec.WithTemplate(tpl))))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(p.MQTTURL).SetClientID("blog-device"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	ts := time.Now().Unix()
	msgs := []struct{ topic, payload string }{
		{"hypo_city/rome/via_roma/g7/temperature", fmt.Sprintf("%d\t28.7", ts)},
		{"hypo_city/rome/via_roma/g7/no2", fmt.Sprintf("%d\t87.3", ts+1)},
		{"hypo_city/turin/via_po/g1/temperature", fmt.Sprintf("%d\t25.1", ts)},
		{"elsewhere/g1/temperature", fmt.Sprintf("%d\t1", ts)},
	}
	for _, m := range msgs {
		if tok := c.Publish(m.topic, 1, false, m.payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	waitRows(ctx, t, p, 3)
	for p.Counters()["bridge_dead_lettered"] < 1 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	dl := deadLetters(ctx, t, p)
	if len(dl) != 1 || header(dl[0], bridge.HeaderReason) != "unroutable" {
		t.Fatalf("dead letters %v, want one unroutable", dl)
	}
	var devs []store.Device
	for ctx.Err() == nil {
		var err error
		if devs, err = p.Store.Devices(ctx); err != nil {
			t.Fatal(err)
		}
		if len(devs) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := map[string]map[string]string{
		"rome/via_roma/g7": {"city": "rome", "street": "via_roma", "group": "g7"},
		"turin/via_po/g1":  {"city": "turin", "street": "via_po", "group": "g1"},
	}
	if len(devs) != len(want) {
		t.Fatalf("devices %+v, want %d", devs, len(want))
	}
	for _, d := range devs {
		w, ok := want[d.ID]
		if !ok {
			t.Fatalf("unexpected device %q", d.ID)
		}
		for k, v := range w {
			if d.Location[k] != v {
				t.Errorf("device %s location %v, want %v", d.ID, d.Location, w)
			}
		}
		if _, has := d.Location[topics.MetricVar]; has {
			t.Errorf("device %s location carries the metric: %v", d.ID, d.Location)
		}
	}
}

// TestMutualTLS runs the pipeline with an mTLS-only broker: devices with the
// client certificate get through to the store, a client without one is refused.
func TestMutualTLS(t *testing.T) {
	p := start(t, WithTLS())
	if !strings.HasPrefix(p.MQTTURL, "ssl://") || p.ClientTLS == nil {
		t.Fatalf("MQTT URL %q, client TLS %v: want ssl:// and a client config", p.MQTTURL, p.ClientTLS)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	anon := p.ClientTLS.Clone()
	anon.Certificates = nil
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(p.MQTTURL).SetClientID("no-cert").
		SetTLSConfig(anon).SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
	if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		c.Disconnect(0)
		t.Fatal("a client without a certificate was let in")
	}

	base := time.Now().UTC().Truncate(time.Hour)
	fleet{devices: 5, msgs: 20, base: base, firstSeq: 1, tls: p.ClientTLS}.publish(ctx, t, p.MQTTURL, nil)
	waitRows(ctx, t, p, 100)
	checkEachOnce(ctx, t, p.Store, 5, 20, base)
}

// TestPassword runs the pipeline with TLS and a password: the generated user gets
// through to the store (and so do the bridges), a wrong password is refused.
func TestPassword(t *testing.T) {
	p := start(t, WithTLS(), WithPassword())
	if p.MQTTUsername == "" || len(p.MQTTPassword) < 16 {
		t.Fatalf("credentials %q/%q: want a generated user and password", p.MQTTUsername, p.MQTTPassword)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct{ name, user, pass string }{
		{"wrong password", p.MQTTUsername, "not-the-password"},
		{"no credentials", "", ""},
	} {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(p.MQTTURL).SetClientID("intruder").
			SetTLSConfig(p.ClientTLS.Clone()).SetUsername(tc.user).SetPassword(tc.pass).
			SetConnectTimeout(5 * time.Second).SetAutoReconnect(false))
		if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
			c.Disconnect(0)
			t.Errorf("%s: the client was let in", tc.name)
		}
	}
	base := time.Now().UTC().Truncate(time.Hour)
	fleet{devices: 3, msgs: 10, base: base, firstSeq: 1, tls: p.ClientTLS, user: p.MQTTUsername, pass: p.MQTTPassword}.publish(ctx, t, p.MQTTURL, nil)
	waitRows(ctx, t, p, 30)
	checkEachOnce(ctx, t, p.Store, 3, 10, base)
}
