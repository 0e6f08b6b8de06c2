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
// It is one more subscriber the broker must serve: the report says so.
type Broker struct {
	client mqtt.Client
	once   sync.Once
}

// BrokerConfig says how the tap reaches the broker.
type BrokerConfig struct {
	URL                string
	Username, Password string
	TLS                *tls.Config
	QoS                byte // subscribe at the highest QoS the devices use, so the tap loses no more than they would
}

// StartBroker connects and subscribes; observations go to l until Stop.
func StartBroker(ctx context.Context, cfg BrokerConfig, l *ledger.Ledger) (*Broker, error) {
	env, err := newEnvelopes(l)
	if err != nil {
		return nil, err
	}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(fmt.Sprintf("citybench-tap-%d", time.Now().UnixNano())).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectTimeout(10 * time.Second).
		// In-order handling on one goroutine: each device's reordering is then
		// measured as the broker delivered it, and the ledger's single-writer rule holds.
		SetOrderMatters(true).
		SetMessageChannelDepth(65535)
	if cfg.Username != "" {
		opts.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	if cfg.TLS != nil {
		opts.SetTLSConfig(cfg.TLS)
	}
	c := mqtt.NewClient(opts)
	if err := wait(ctx, c.Connect()); err != nil {
		return nil, fmt.Errorf("broker tap: connect %s: %w", cfg.URL, err)
	}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		now := time.Now().UnixNano()
		if dev, seq, ok := env.find(m.Topic(), "", m.Payload()); ok {
			l.Observe(ledger.Broker, dev, seq, now)
		}
	}
	if err := wait(ctx, c.Subscribe("#", cfg.QoS, handler)); err != nil {
		c.Disconnect(0)
		return nil, fmt.Errorf("broker tap: subscribe: %w", err)
	}
	return &Broker{client: c}, nil
}

// Stop disconnects; calling it again does nothing.
func (b *Broker) Stop() {
	b.once.Do(func() { b.client.Disconnect(250) })
}

func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
