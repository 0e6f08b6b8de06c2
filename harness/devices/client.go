package devices

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/limits"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// client is one device's MQTT connection, whichever protocol version it speaks:
// the run loop drives every device through it.
type client interface {
	// Connect opens the connection and says what the broker answered.
	Connect(ctx context.Context) (connack, error)
	// Publish hands one message to the client; the token completes once the
	// broker acknowledged it (QoS 1 and 2) or it was written (QoS 0).
	Publish(p publication) token
	// Disconnect ends the connection cleanly, giving in-flight messages quiesce.
	Disconnect(quiesce time.Duration)
	IsConnected() bool
}

// conn is a client a reconnecting link can drive: it can lose its network on
// purpose and say when its connection ended.
type conn interface {
	client
	// Drop closes the network connection without a DISCONNECT, as a device
	// losing its network does.
	Drop()
	// Lost is closed when the connection made by the last successful Connect ends.
	Lost() <-chan struct{}
}

// token is the outcome of one publish (paho's mqtt.Token satisfies it).
type token interface {
	Done() <-chan struct{}
	Error() error
}

// connack is what the broker answered a CONNECT.
type connack struct {
	SessionPresent bool
	// Code is the CONNACK return code (3.1.1) or reason code (5); 0 is success.
	Code byte
}

// publication is one message as the run loop hands it over, with its envelope
// (which MQTT 5 also carries as user properties).
type publication struct {
	Topic    string
	QoS      byte
	Retain   bool
	Payload  []byte
	DeviceID string
	Seq      uint64
	Intended int64 // ns since the Unix epoch
}

// connectTimeout bounds one connection attempt: dial, CONNECT and CONNACK.
const connectTimeout = 10 * time.Second

// errNotConnected is a publish handed to a client that has no connection.
var errNotConnected = errors.New("not connected")

// newClient makes device d's client for its fleet's protocol. A 3.1.1 device
// without a reconnect storm keeps paho's own reconnect; every other device
// reconnects through a link, which also queues what is due while disconnected.
func (s *Simulator) newClient(d *schedule.Device) client {
	f := d.Fleet
	if f.Protocol != scenarios.Protocol5 && f.Reconnect == nil {
		return s.newMQTT3(d, false)
	}
	var c conn
	if f.Protocol == scenarios.Protocol5 {
		c = s.newMQTT5(d)
	} else {
		c = s.newMQTT3(d, true)
	}
	return s.newLink(d, c)
}

// dial opens device d's network connection to u, from its loopback source
// address when the broker is on loopback, over TLS for ssl://, tls:// and mqtts://.
func (s *Simulator) dial(ctx context.Context, d *schedule.Device, u *url.URL) (net.Conn, error) {
	nd := &net.Dialer{Timeout: connectTimeout}
	if s.sourceAddrs > 1 && limits.IsLoopback(u.String()) {
		nd.LocalAddr = &net.TCPAddr{IP: limits.SourceAddr(d.Index, s.sourceAddrs)}
	}
	switch u.Scheme {
	case "tcp", "mqtt":
		return nd.DialContext(ctx, "tcp", u.Host)
	case "ssl", "tls", "mqtts":
		cfg := &tls.Config{}
		if s.broker.TLS != nil {
			cfg = s.broker.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		return (&tls.Dialer{NetDialer: nd, Config: cfg}).DialContext(ctx, "tcp", u.Host)
	}
	return nil, fmt.Errorf("broker URL %s: unsupported scheme %q (want tcp, ssl, tls or mqtts)", u, u.Scheme)
}

// doneToken is a token completed by whoever holds it.
type doneToken struct {
	done chan struct{}
	once sync.Once
	err  error
}

func newDoneToken() *doneToken { return &doneToken{done: make(chan struct{})} }

func (t *doneToken) Done() <-chan struct{} { return t.done }

func (t *doneToken) Error() error {
	<-t.done
	return t.err
}

// complete records the outcome; only the first call counts.
func (t *doneToken) complete(err error) {
	t.once.Do(func() {
		t.err = err
		close(t.done)
	})
}

// failed is a token that has already failed.
func failed(err error) token {
	t := newDoneToken()
	t.complete(err)
	return t
}
