package taps

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/citybench/citybench/harness/ledger"
)

// Broker subscribes to every topic on the broker and records the broker stage.
// It is one more subscriber the broker must serve: the report says so. When its
// connection drops it reconnects (paho's auto-reconnect) and subscribes again;
// the span is its outage, and messages intended in it that it never saw are
// unverified, not lost.
type Broker struct {
	cfg     BrokerConfig
	rec     Recorder
	client  mqtt.Client
	outages *outages
	once    sync.Once
}

// BrokerConfig says how the tap reaches the broker.
type BrokerConfig struct {
	URL                string
	Username, Password string
	TLS                *tls.Config
	QoS                byte // subscribe at the highest QoS the devices use, so the tap loses no more than they would
}

// brokerUnverifiedLead is how long before an outage a message may have been
// intended and still have been in flight to the tap when its connection dropped.
const brokerUnverifiedLead = time.Second

// NewBroker returns the broker tap; Start connects it.
func NewBroker(cfg BrokerConfig) *Broker { return &Broker{cfg: cfg} }

// Stage is the broker stage.
func (b *Broker) Stage() ledger.Stage { return ledger.Broker }

// Start connects and subscribes; observations go to env.Rec until Stop.
func (b *Broker) Start(ctx context.Context, env Env) error {
	envs, err := newEnvelopes(env.Plan)
	if err != nil {
		return err
	}
	b.rec = env.Rec
	b.outages = newOutages(ledger.Broker, env.Rec.Start)
	handler := func(_ mqtt.Client, m mqtt.Message) {
		now := time.Now().UnixNano()
		b.outages.up("connection") // a message proves the subscription is back
		if dev, seq, ok := envs.find(m.Topic(), "", m.Payload()); ok {
			env.Rec.Observe(ledger.Broker, dev, seq, now)
		}
	}
	opts := mqtt.NewClientOptions().
		AddBroker(b.cfg.URL).
		SetClientID(fmt.Sprintf("citybench-tap-%d", time.Now().UnixNano())).
		SetCleanSession(true).
		SetStore(noStore{}).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(2 * time.Second).
		SetConnectTimeout(10 * time.Second).
		// In-order handling on one goroutine: each device's reordering is then
		// measured as the broker delivered it, and the recorder's single-writer rule holds.
		SetOrderMatters(true).
		SetMessageChannelDepth(65535).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			b.outages.down("connection", fmt.Sprintf("connection to %s lost: %v", b.cfg.URL, err))
		}).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			b.outages.down("connection", fmt.Sprintf("reconnecting to %s", b.cfg.URL))
		}).
		// A clean session forgets the subscription: subscribe again on every
		// connection. The outage ends when the broker has granted it.
		SetOnConnectHandler(func(c mqtt.Client) {
			if !b.outages.isDown() {
				return // the first connection: Start subscribes and reports errors itself
			}
			t := c.Subscribe("#", b.cfg.QoS, handler)
			if t.WaitTimeout(10*time.Second) && t.Error() == nil {
				b.outages.up("connection")
			}
		})
	if b.cfg.Username != "" {
		opts.SetUsername(b.cfg.Username).SetPassword(b.cfg.Password)
	}
	if b.cfg.TLS != nil {
		opts.SetTLSConfig(b.cfg.TLS)
	}
	b.client = mqtt.NewClient(opts)
	if err := wait(ctx, b.client.Connect()); err != nil {
		return fmt.Errorf("broker tap: connect %s: %w", b.cfg.URL, err)
	}
	if err := wait(ctx, b.client.Subscribe("#", b.cfg.QoS, handler)); err != nil {
		b.client.Disconnect(0)
		return fmt.Errorf("broker tap: subscribe: %w", err)
	}
	return nil
}

// brokerQuiet is how long the broker stage may see nothing new before the tap
// stops short of what was sent: the broker passes messages on as they arrive,
// so a broker that has been quiet this long after the load has passed on all it will.
const brokerQuiet = 2 * time.Second

// Stop waits until the tap has seen as many messages as were sent, or the broker
// has been quiet for brokerQuiet (or ctx ends), then disconnects. Calling it
// again reports again.
func (b *Broker) Stop(ctx context.Context, _ time.Duration) Report {
	b.once.Do(func() {
		if b.rec != nil {
			last, lastChange := b.rec.Delivered(ledger.Broker), time.Now()
			waitFor(ctx, func() bool {
				n := b.rec.Delivered(ledger.Broker)
				if n != last {
					last, lastChange = n, time.Now()
				}
				// The broker passes malformed messages on too, but the tap cannot
				// decode them: it waits for the ones it can.
				return n >= b.rec.Forwardable() || time.Since(lastChange) >= brokerQuiet
			})
		}
		b.client.Disconnect(250)
	})
	spans := b.outages.spans()
	rep := Report{Stage: ledger.Broker, Outages: spans}
	if len(spans) > 0 {
		rep.Unverified = func(_ int, at time.Duration) bool {
			s := at.Seconds()
			for _, sp := range spans {
				if s >= sp.FromS-brokerUnverifiedLead.Seconds() && s <= sp.ToS {
					return true
				}
			}
			return false
		}
	}
	return rep
}

func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
