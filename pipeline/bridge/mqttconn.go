package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// Why the bridge opens its own MQTT connection: paho writes every packet with
// its own write(2), and a bridge acknowledges every message it receives, so a
// backlog of 60,000 QoS 1 messages meant 60,000 four-byte PUBACK writes, one
// after another on paho's single outgoing goroutine. The bridge's
// acknowledging goroutines queued up behind it, and the workers behind them
// (make bench-pipeline, docs/performance.md). gatheringConn lets paho's writes
// return at once and writes what gathered meanwhile in one call.

// mqttSchemes are the broker URL schemes the bridge dials (plain TCP and TLS,
// as paho names them).
var mqttSchemes = map[string]bool{"tcp": false, "mqtt": false,
	"ssl": true, "tls": true, "mqtts": true, "mqtt+ssl": true, "tcps": true}

// checkMQTTURL refuses a broker URL the bridge cannot dial.
func checkMQTTURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("MQTT broker URL %q: %w", raw, err)
	}
	if _, ok := mqttSchemes[u.Scheme]; !ok || u.Host == "" {
		return fmt.Errorf("MQTT broker URL %q: want tcp://host:port or ssl://host:port", raw)
	}
	return nil
}

// openMQTTConn is paho's OpenConnectionFunc for the bridge: TCP, or TLS with
// the client options' TLS config, through the proxy the environment names (as
// paho does), wrapped in a gatheringConn.
func openMQTTConn(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	conn, err := proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	if mqttSchemes[uri.Scheme] {
		cfg := &tls.Config{}
		if o.TLSConfig != nil {
			cfg = o.TLSConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = uri.Hostname()
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.ConnectTimeout)
		defer cancel()
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", uri.Host, err)
		}
		conn = tc
	}
	return newGatheringConn(conn), nil
}

// closeFlushTimeout bounds how long Close waits for the bytes in hand to be
// written: paho closes a connection to give up on it (keep-alive timeout), and a
// broker that stopped reading must not keep the write, and so Close, blocked.
const closeFlushTimeout = time.Second

// maxGathered bounds what Write takes before the previous bytes are written:
// past it Write waits, as a socket write would once the kernel's buffer is full.
const maxGathered = 64 << 10

// gatheringConn hands what its writers write to one goroutine that writes all
// that gathered since its last write in one call. Reads and deadlines go to
// the connection itself. A failed write closes the connection (paho's reader
// then reports it lost) and fails every later Write.
type gatheringConn struct {
	net.Conn
	mu      sync.Mutex
	room    *sync.Cond // signalled when buf is taken
	buf     []byte     // written by callers, not yet by the goroutine
	spare   []byte
	err     error // the first write error, or net.ErrClosed after Close
	wake    chan struct{}
	stopped chan struct{} // closed when the writing goroutine ends
	once    sync.Once
}

func newGatheringConn(c net.Conn) *gatheringConn {
	g := &gatheringConn{Conn: c, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	g.room = sync.NewCond(&g.mu)
	go g.writeLoop()
	return g
}

func (g *gatheringConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	for g.err == nil && len(g.buf) > 0 && len(g.buf)+len(p) > maxGathered {
		g.room.Wait()
	}
	if err := g.err; err != nil {
		g.mu.Unlock()
		return 0, err
	}
	g.buf = append(g.buf, p...)
	select { // under mu: Close closes wake only after setting err
	case g.wake <- struct{}{}:
	default:
	}
	g.mu.Unlock()
	return len(p), nil
}

// writeLoop writes what gathered until the connection fails or is closed.
func (g *gatheringConn) writeLoop() {
	defer close(g.stopped)
	for range g.wake {
		if err := g.flush(); err != nil {
			return
		}
	}
}

// flush writes what gathered; only writeLoop and, after it ended, Close call it.
func (g *gatheringConn) flush() error {
	g.mu.Lock()
	if len(g.buf) == 0 {
		closed := g.err != nil
		g.mu.Unlock()
		if closed {
			return net.ErrClosed
		}
		return nil
	}
	out := g.buf
	g.buf = g.spare[:0] // never out's array: spare is the one written before
	g.room.Broadcast()
	g.mu.Unlock()
	_, err := g.Conn.Write(out)
	g.mu.Lock()
	g.spare = out[:0]
	if err != nil && g.err == nil {
		g.err = err
		g.room.Broadcast()
	}
	g.mu.Unlock()
	if err != nil {
		_ = g.Conn.Close()
	}
	return err
}

// Close writes what gathered (paho closes right after writing DISCONNECT) and
// closes the connection.
func (g *gatheringConn) Close() error {
	var err error
	g.once.Do(func() {
		g.mu.Lock()
		failed := g.err
		if failed == nil {
			g.err = net.ErrClosed
		}
		g.room.Broadcast()
		close(g.wake) // under mu with err set: no Write sends on it any more
		g.mu.Unlock()
		_ = g.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		<-g.stopped
		if failed == nil {
			if ferr := g.flush(); ferr != nil && !errors.Is(ferr, net.ErrClosed) {
				err = ferr
			}
		}
		err = errors.Join(err, g.Conn.Close())
	})
	return err
}
