package devices

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/citybench/citybench/harness/schedule"
)

// mqtt3 is a 3.1.1 device on paho.mqtt.golang. Alone it reconnects through
// paho; under a link (linked) it dials itself, so it can drop its own network,
// and leaves reconnecting to the link.
type mqtt3 struct {
	c mqtt.Client

	mu   sync.Mutex
	nc   *droppable    // the network connection (linked only)
	lost chan struct{} // closed when the current connection ends (linked only)
	acks *ackStore     // linked only
	kept bool          // the broker keeps the session across connections
}

func (s *Simulator) newMQTT3(d *schedule.Device, linked bool) *mqtt3 {
	m := &mqtt3{lost: make(chan struct{})}
	o := s.clientOptions(d)
	if linked {
		m.acks, m.kept = &ackStore{MemoryStore: mqtt.NewMemoryStore(), pending: map[uint16]*doneToken{}, early: map[uint16]bool{}}, d.Fleet.KeepsSession()
		o.SetStore(m.acks)
		o.SetAutoReconnect(false)
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
			defer cancel()
			nc, err := s.dial(ctx, d, u)
			if err != nil {
				return nil, err
			}
			dc := &droppable{Conn: nc}
			m.mu.Lock()
			m.nc = dc
			m.mu.Unlock()
			return dc, nil
		})
		o.SetConnectionLostHandler(func(mqtt.Client, error) {
			s.conns.Add(-1)
			m.mu.Lock()
			close(m.lost)
			m.mu.Unlock()
		})
	}
	m.c = mqtt.NewClient(o)
	return m
}

func (m *mqtt3) Connect(ctx context.Context) (connack, error) {
	m.mu.Lock()
	select {
	case <-m.lost:
		m.lost = make(chan struct{}) // the connection being made is a new one
	default:
	}
	m.mu.Unlock()
	t := m.c.Connect()
	err := waitToken(ctx, t)
	ct := t.(*mqtt.ConnectToken)
	return connack{SessionPresent: ct.SessionPresent(), Code: ct.ReturnCode()}, err
}

func (m *mqtt3) Publish(p publication) token {
	t := m.c.Publish(p.Topic, p.QoS, p.Retain, p.Payload)
	id := t.(*mqtt.PublishToken).MessageID()
	if m.acks == nil || p.QoS == 0 || id == 0 {
		return t
	}
	// paho fails the token of a publish whose write met the dropped
	// connection, though the publish stays in its store and goes out again on
	// the resumed session; the store sees that acknowledgement too.
	out := newDoneToken()
	m.acks.track(id, out)
	go func() {
		<-t.Done()
		if err := t.Error(); err != nil && !(m.kept && errors.Is(err, errDropped)) {
			m.acks.untrack(id)
			out.complete(err)
		}
	}()
	return out
}

// ackStore is paho's memory store, watched: paho deletes an outbound publish
// from it when the PUBACK or PUBCOMP arrives, whichever connection it was
// (re)sent on.
type ackStore struct {
	*mqtt.MemoryStore
	mu      sync.Mutex
	pending map[uint16]*doneToken // by message id
	early   map[uint16]bool       // acknowledged before track saw the id
}

func (s *ackStore) track(id uint16, t *doneToken) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.early[id] {
		delete(s.early, id)
		t.complete(nil)
		return
	}
	s.pending[id] = t
}

func (s *ackStore) untrack(id uint16) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// Del is paho removing a message; an outbound publish's removal is its acknowledgement.
func (s *ackStore) Del(key string) {
	rest, outbound := strings.CutPrefix(key, "o.")
	if outbound && isPublishFlow(s.MemoryStore.Get(key)) {
		if id, err := strconv.ParseUint(rest, 10, 16); err == nil {
			s.mu.Lock()
			if t, ok := s.pending[uint16(id)]; ok {
				delete(s.pending, uint16(id))
				t.complete(nil)
			} else {
				s.early[uint16(id)] = true
			}
			s.mu.Unlock()
		}
	}
	s.MemoryStore.Del(key)
}

// isPublishFlow reports whether a stored outbound packet belongs to a publish
// (the PUBLISH itself, or the PUBREL of a QoS 2 flow), not a subscription.
func isPublishFlow(p packets.ControlPacket) bool {
	switch p.(type) {
	case *packets.PublishPacket, *packets.PubrelPacket:
		return true
	}
	return false
}

func (m *mqtt3) Disconnect(quiesce time.Duration) { m.c.Disconnect(uint(quiesce / time.Millisecond)) }

func (m *mqtt3) IsConnected() bool { return m.c.IsConnected() }

func (m *mqtt3) Drop() {
	m.mu.Lock()
	nc := m.nc
	m.mu.Unlock()
	if nc != nil {
		nc.drop()
	}
}

func (m *mqtt3) Lost() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost
}

// droppable is a network connection that can be lost on purpose. paho takes
// "use of closed network connection" for its own Disconnect and stays silent,
// so after drop reads and writes fail with errDropped instead.
type droppable struct {
	net.Conn
	dropped atomic.Bool
}

var errDropped = errors.New("network connection dropped by the reconnect storm")

func (c *droppable) drop() {
	c.dropped.Store(true)
	_ = c.Conn.Close()
}

func (c *droppable) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && c.dropped.Load() {
		err = errDropped
	}
	return n, err
}

func (c *droppable) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil && c.dropped.Load() {
		err = errDropped
	}
	return n, err
}
