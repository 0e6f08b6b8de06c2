package devices

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"github.com/citybench/citybench/harness/schedule"
)

// Envelope user properties of an MQTT 5 publish: the names of codec.Reading's
// envelope fields, so a subscriber can read them without decoding the payload.
const (
	PropDeviceID = "device_id"
	PropSeq      = "seq"
	PropIntended = "sample_time_ns"
)

// mqtt5 is an MQTT 5 device on paho.golang. Its session state outlives each
// network connection, so a reconnect that finds the session present resends
// what was unacknowledged, and a publish's token completes whenever its
// PUBACK arrives, on whichever connection.
type mqtt5 struct {
	s    *Simulator
	d    *schedule.Device
	sess *trackedSession

	mu       sync.Mutex
	pc       *paho.Client // nil while disconnected
	nc       net.Conn
	lost     chan struct{}
	aliases  map[string]uint16 // topic aliases of the current connection
	aliasMax uint16
	closing  bool // Disconnect was called
}

func (s *Simulator) newMQTT5(d *schedule.Device) *mqtt5 {
	lost := make(chan struct{})
	close(lost) // not connected yet
	return &mqtt5{s: s, d: d, lost: lost, sess: &trackedSession{State: state.NewInMemory(), reasons: &s.reasons, pending: map[uint16]*doneToken{}}}
}

func (m *mqtt5) Connect(ctx context.Context) (connack, error) {
	u, err := url.Parse(m.s.brokerURL(m.d))
	if err != nil {
		return connack{}, fmt.Errorf("broker URL: %w", err)
	}
	nc, err := m.s.dial(ctx, m.d, u)
	if err != nil {
		return connack{}, err
	}
	pc := paho.NewClient(paho.ClientConfig{
		ClientID: m.d.ID, Conn: packets.NewThreadSafeConn(nc), Session: m.sess, PacketTimeout: connectTimeout,
		OnClientError: func(error) {},
		OnServerDisconnect: func(d *paho.Disconnect) {
			m.s.reasons.add(reasonDisconnect, d.ReasonCode)
		},
	})
	ca, err := pc.Connect(ctx, m.connectPacket())
	if ca != nil {
		m.s.reasons.add(reasonConnack, ca.ReasonCode)
	}
	if err != nil {
		_ = nc.Close()
		out := connack{Code: packets.ConnackUnspecifiedError}
		if ca != nil {
			out.Code = ca.ReasonCode
		}
		return out, err
	}
	if !ca.SessionPresent {
		m.sess.failPending(errSessionNotResumed)
	}
	m.mu.Lock()
	m.pc, m.nc, m.lost = pc, nc, make(chan struct{})
	m.aliases, m.aliasMax = map[string]uint16{}, 0
	if f := m.d.Fleet; f.MQTT5 != nil && f.MQTT5.TopicAliases && ca.Properties != nil {
		if n := ca.Properties.TopicAliasMaximum; n != nil {
			m.aliasMax = *n
		}
	}
	lost := m.lost
	m.mu.Unlock()
	m.s.conns.Add(1)
	go func() { // ends with the connection: Done closes however it ends
		<-pc.Done()
		m.mu.Lock()
		if m.pc == pc {
			m.pc = nil
		}
		closing := m.closing
		m.mu.Unlock()
		if !closing { // a clean Disconnect is counted by its caller
			m.s.conns.Add(-1)
		}
		close(lost)
	}()
	return connack{SessionPresent: ca.SessionPresent, Code: ca.ReasonCode}, nil
}

// errSessionNotResumed fails the publishes a session held when the broker
// answered a reconnect without it: they will never be acknowledged.
var errSessionNotResumed = errors.New("session not resumed: unacknowledged publishes discarded")

func (m *mqtt5) connectPacket() *paho.Connect {
	f := m.d.Fleet
	cp := &paho.Connect{ClientID: m.d.ID, KeepAlive: uint16(max(f.KeepAlive.D().Seconds(), 1)), CleanStart: f.CleanSession == nil || *f.CleanSession,
		Properties: &paho.ConnectProperties{}}
	if f.MQTT5 != nil && f.MQTT5.SessionExpiry > 0 {
		exp := uint32(f.MQTT5.SessionExpiry.D().Seconds())
		cp.Properties.SessionExpiryInterval = &exp
	}
	user, pass := f.Username, f.Password
	if user == "" {
		user, pass = m.s.broker.Username, m.s.broker.Password
	}
	if user != "" {
		cp.Username, cp.UsernameFlag, cp.Password, cp.PasswordFlag = user, true, []byte(pass), true
	}
	if w := f.Will; w != nil {
		cp.WillMessage = &paho.WillMessage{Topic: m.d.WillTopic(), Payload: []byte(w.Payload), QoS: byte(w.QoS), Retain: w.Retain}
	}
	return cp
}

// pubTokenKey carries a publish's token and full topic through paho's
// context into trackedSession.AddToSession.
type pubTokenKey struct{}

type pubContext struct {
	tok   *doneToken
	topic string
}

func (m *mqtt5) Publish(p publication) token {
	m.mu.Lock()
	pc := m.pc
	pub := &paho.Publish{QoS: p.QoS, Retain: p.Retain, Topic: p.Topic, Payload: p.Payload, Properties: m.properties(p)}
	if pc != nil && m.aliasMax > 0 {
		alias, known := m.aliases[p.Topic]
		if !known && len(m.aliases) < int(m.aliasMax) {
			alias = uint16(len(m.aliases) + 1)
			m.aliases[p.Topic] = alias
		}
		if alias > 0 {
			pub.Properties.TopicAlias = &alias
		}
		if known {
			pub.Topic = "" // the alias alone names it on this connection
		}
	}
	m.mu.Unlock()
	if pc == nil {
		return failed(errNotConnected)
	}
	tok := newDoneToken()
	ctx := context.WithValue(context.Background(), pubTokenKey{}, pubContext{tok: tok, topic: p.Topic})
	_, err := pc.PublishWithOptions(ctx, pub, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	switch {
	case errors.Is(err, session.ErrNoConnection):
		tok.complete(errNotConnected) // the connection went away under it
	case p.QoS == 0 || (err != nil && !errors.Is(err, paho.ErrNetworkErrorAfterStored)):
		tok.complete(err) // QoS 0 is done once written; any other error means it never entered the session
	}
	return tok
}

// properties are a publish's MQTT 5 properties: the envelope as user
// properties and the fleet's message expiry.
func (m *mqtt5) properties(p publication) *paho.PublishProperties {
	props := &paho.PublishProperties{User: paho.UserProperties{
		{Key: PropDeviceID, Value: p.DeviceID},
		{Key: PropSeq, Value: strconv.FormatUint(p.Seq, 10)},
		{Key: PropIntended, Value: strconv.FormatInt(p.Intended, 10)},
	}}
	if f := m.d.Fleet; f.MQTT5 != nil && f.MQTT5.MessageExpiry > 0 {
		exp := uint32(f.MQTT5.MessageExpiry.D().Seconds())
		props.MessageExpiry = &exp
	}
	return props
}

// Disconnect waits up to quiesce for the session's unacknowledged publishes,
// then sends DISCONNECT.
func (m *mqtt5) Disconnect(quiesce time.Duration) {
	m.sess.waitPending(quiesce)
	m.mu.Lock()
	m.closing = true
	pc := m.pc
	m.mu.Unlock()
	if pc != nil {
		_ = pc.Disconnect(&paho.Disconnect{ReasonCode: 0})
		<-pc.Done()
	}
}

func (m *mqtt5) IsConnected() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pc != nil
}

func (m *mqtt5) Drop() {
	m.mu.Lock()
	nc := m.nc
	m.mu.Unlock()
	if nc != nil {
		_ = nc.Close()
	}
}

func (m *mqtt5) Lost() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost
}

// trackedSession is paho's in-memory session state, watched: it completes each
// publish's token when its acknowledgement arrives and counts reason codes.
type trackedSession struct {
	*state.State
	reasons *reasonCounts

	mu      sync.Mutex
	pending map[uint16]*doneToken // by packet identifier
	drained chan struct{}         // closed when pending empties, while someone waits
}

func (t *trackedSession) AddToSession(ctx context.Context, packet session.Packet, resp chan<- packets.ControlPacket) error {
	pb, isPub := packet.(*packets.Publish)
	pcx, tracked := ctx.Value(pubTokenKey{}).(pubContext)
	if !isPub || !tracked {
		return t.State.AddToSession(ctx, packet, resp)
	}
	// The session keeps the full topic: a resend on a later connection must
	// not rely on this connection's alias.
	wire := pb.Topic
	pb.Topic = pcx.topic
	err := t.State.AddToSession(ctx, packet, resp)
	pb.Topic = wire
	if err == nil {
		t.mu.Lock()
		t.pending[pb.PacketID] = pcx.tok
		t.mu.Unlock()
	}
	return err
}

func (t *trackedSession) PacketReceived(recv *packets.ControlPacket, pubChan chan<- *packets.Publish) error {
	// Complete before the state frees the identifier for reuse.
	switch p := recv.Content.(type) {
	case *packets.Puback:
		t.reasons.add(reasonPuback, p.ReasonCode)
		t.complete(p.PacketID, reasonError(p.ReasonCode, p.Reason()))
	case *packets.Pubrec:
		t.reasons.add(reasonPubrec, p.ReasonCode)
		if p.ReasonCode >= 0x80 {
			t.complete(p.PacketID, reasonError(p.ReasonCode, p.Reason()))
		}
	case *packets.Pubcomp:
		t.reasons.add(reasonPubcomp, p.ReasonCode)
		t.complete(p.PacketID, reasonError(p.ReasonCode, p.Reason()))
	}
	return t.State.PacketReceived(recv, pubChan)
}

func reasonError(code byte, reason string) error {
	if code < 0x80 {
		return nil
	}
	return fmt.Errorf("broker refused the publish: 0x%02x %s", code, reason)
}

func (t *trackedSession) complete(id uint16, err error) {
	t.mu.Lock()
	tok := t.pending[id]
	delete(t.pending, id)
	t.signalDrained()
	t.mu.Unlock()
	if tok != nil {
		tok.complete(err)
	}
}

// failPending fails every unacknowledged publish (the broker dropped the session).
func (t *trackedSession) failPending(err error) {
	t.mu.Lock()
	toks := t.pending
	t.pending = map[uint16]*doneToken{}
	t.signalDrained()
	t.mu.Unlock()
	for _, tok := range toks {
		tok.complete(err)
	}
}

// signalDrained wakes waitPending once nothing is pending; t.mu is held.
func (t *trackedSession) signalDrained() {
	if len(t.pending) == 0 && t.drained != nil {
		close(t.drained)
		t.drained = nil
	}
}

// waitPending waits up to d for every unacknowledged publish.
func (t *trackedSession) waitPending(d time.Duration) {
	t.mu.Lock()
	if len(t.pending) == 0 {
		t.mu.Unlock()
		return
	}
	if t.drained == nil {
		t.drained = make(chan struct{})
	}
	ch := t.drained
	t.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
	}
}

// MQTT 5 packets whose reason codes are counted.
const (
	reasonConnack = iota
	reasonPuback
	reasonPubrec
	reasonPubcomp
	reasonDisconnect
	numReasonKinds
)

var reasonKindNames = [numReasonKinds]string{"connack", "puback", "pubrec", "pubcomp", "disconnect"}

// reasonCounts counts the reason codes MQTT 5 brokers answered, per packet kind.
type reasonCounts [numReasonKinds][256]atomic.Int64

func (r *reasonCounts) add(kind int, code byte) { r[kind][code].Add(1) }

// ReasonCodes are the MQTT 5 reason codes the brokers answered so far, per
// packet kind ("connack", "puback", …) and code ("0x00 success"); nil when no
// device speaks MQTT 5.
func (s *Simulator) ReasonCodes() map[string]map[string]int64 {
	var out map[string]map[string]int64
	for kind := range s.reasons {
		for code := range s.reasons[kind] {
			n := s.reasons[kind][code].Load()
			if n == 0 {
				continue
			}
			if out == nil {
				out = map[string]map[string]int64{}
			}
			name := reasonKindNames[kind]
			if out[name] == nil {
				out[name] = map[string]int64{}
			}
			out[name][reasonName(byte(code))] = n
		}
	}
	return out
}

// reasonName is "0x10 no matching subscribers": the code and its name in the
// MQTT 5 specification's one table of reason codes (2.4).
func reasonName(code byte) string {
	name, ok := reasonNames[code]
	if !ok {
		name = "unknown"
	}
	return fmt.Sprintf("0x%02x %s", code, name)
}

var reasonNames = map[byte]string{
	0x00: "success", 0x04: "disconnect with will message", 0x10: "no matching subscribers",
	0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error", 0x83: "implementation specific error",
	0x84: "unsupported protocol version", 0x85: "client identifier not valid", 0x86: "bad user name or password",
	0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8a: "banned", 0x8b: "server shutting down",
	0x8c: "bad authentication method", 0x8d: "keep alive timeout", 0x8e: "session taken over", 0x8f: "topic filter invalid",
	0x90: "topic name invalid", 0x91: "packet identifier in use", 0x92: "packet identifier not found",
	0x93: "receive maximum exceeded", 0x94: "topic alias invalid", 0x95: "packet too large", 0x96: "message rate too high",
	0x97: "quota exceeded", 0x98: "administrative action", 0x99: "payload format invalid", 0x9a: "retain not supported",
	0x9b: "qos not supported", 0x9c: "use another server", 0x9d: "server moved", 0x9e: "shared subscriptions not supported",
	0x9f: "connection rate exceeded", 0xa0: "maximum connect time", 0xa1: "subscription identifiers not supported",
	0xa2: "wildcard subscriptions not supported",
}
