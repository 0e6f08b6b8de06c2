package scenarios

import (
	"math"
	"slices"
	"time"
)

// MQTT protocol versions a fleet may speak, spelled as in `protocol:`.
const (
	Protocol311 = "3.1.1"
	Protocol5   = "5"
	// DefaultProtocol is what a fleet without `protocol:` speaks.
	DefaultProtocol = Protocol311
)

// MQTT5 tunes what only MQTT 5 has. Every MQTT 5 publish also carries the
// envelope (device id, sequence, intended time) as user properties.
type MQTT5 struct {
	// SessionExpiry is how long the broker keeps the session after the
	// connection ends (0: it ends with the connection). With clean_session
	// false it is what makes a session survive a reconnect.
	SessionExpiry Duration `yaml:"session_expiry,omitempty"`
	// MessageExpiry is each publish's message expiry interval (0: none).
	MessageExpiry Duration `yaml:"message_expiry,omitempty"`
	// TopicAliases sends each topic once per connection and then its alias, up
	// to the broker's topic alias maximum.
	TopicAliases bool `yaml:"topic_aliases,omitempty"`
}

// Reconnect is a reconnect storm the devices cause themselves: at At, Fraction
// of the fleet's devices lose their network connection at once (no
// DISCONNECT), then each reconnects with exponential backoff and jitter. The
// session is kept or not as the fleet's clean_session (3.1.1) or
// mqtt5.session_expiry (5) say. Readings due while a device is disconnected
// are queued on the device and sent once it is connected again.
type Reconnect struct {
	At       Duration `yaml:"at"`
	Fraction float64  `yaml:"fraction,omitempty"` // default 1
	Backoff  Backoff  `yaml:"backoff,omitempty"`
}

// Backoff is the delay before each reconnect attempt: Initial, then multiplied
// by Multiplier up to Max; each delay is spread uniformly over
// [1−Jitter, 1+Jitter] times itself, so devices do not retry in lockstep.
type Backoff struct {
	Initial    Duration `yaml:"initial,omitempty"`    // default 500ms
	Max        Duration `yaml:"max,omitempty"`        // default 10s
	Multiplier float64  `yaml:"multiplier,omitempty"` // default 2
	Jitter     float64  `yaml:"jitter,omitempty"`     // default 0.5
}

// Reconnect defaults.
const (
	DefaultReconnectFraction = 1.0
	DefaultBackoffInitial    = 500 * time.Millisecond
	DefaultBackoffMax        = 10 * time.Second
	DefaultBackoffMultiplier = 2.0
	DefaultBackoffJitter     = 0.5
)

// mqtt5Limit is the largest MQTT 5 interval (a four-byte count of seconds).
const mqtt5Limit = math.MaxUint32 * time.Second

// KeepsSession reports whether the broker keeps the fleet's session across a
// lost connection.
func (f *Fleet) KeepsSession() bool {
	if f.CleanSession != nil && *f.CleanSession {
		return false
	}
	if f.Protocol == Protocol5 {
		return f.MQTT5 != nil && f.MQTT5.SessionExpiry > 0
	}
	return true
}

// HasReconnect reports whether any fleet plays a reconnect storm.
func (s *Scenario) HasReconnect() bool {
	return slices.ContainsFunc(s.Fleets, func(f Fleet) bool { return f.Reconnect != nil })
}

func (s *Scenario) reconnectDefaults(p string, r *Reconnect) {
	if r == nil {
		return
	}
	p += ".reconnect"
	defFloat(s, &r.Fraction, p+".fraction", DefaultReconnectFraction)
	defDuration(s, &r.Backoff.Initial, p+".backoff.initial", DefaultBackoffInitial)
	defDuration(s, &r.Backoff.Max, p+".backoff.max", DefaultBackoffMax)
	defFloat(s, &r.Backoff.Multiplier, p+".backoff.multiplier", DefaultBackoffMultiplier)
	defFloat(s, &r.Backoff.Jitter, p+".backoff.jitter", DefaultBackoffJitter)
}

func (v *validator) protocol(p string, f *Fleet) {
	switch f.Protocol {
	case Protocol311, Protocol5:
	default:
		v.add(p+".protocol", "unknown MQTT protocol %q (want 3.1.1 or 5)", f.Protocol)
		return
	}
	m := f.MQTT5
	if m == nil {
		return
	}
	if f.Protocol != Protocol5 {
		v.add(p+".mqtt5", "mqtt5 settings need protocol: 5 (this fleet speaks %s)", f.Protocol)
		return
	}
	for _, d := range []struct {
		field string
		val   Duration
	}{{"session_expiry", m.SessionExpiry}, {"message_expiry", m.MessageExpiry}} {
		switch {
		case d.val < 0 || d.val.D() > mqtt5Limit:
			v.add(p+".mqtt5."+d.field, "must be between 0 and %d s (MQTT 5's limit), got %s", uint32(math.MaxUint32), d.val)
		case d.val.D()%time.Second != 0:
			v.add(p+".mqtt5."+d.field, "MQTT 5 intervals are whole seconds, got %s", d.val)
		}
	}
}

func (v *validator) reconnect(p string, f *Fleet) {
	r := f.Reconnect
	if r == nil {
		return
	}
	p += ".reconnect"
	if f.Connection != ConnectionPersistent {
		v.add(p, "a reconnect storm drops kept connections: use connection persistent")
	}
	if f.Arrival.Burst() {
		v.add(p, "a burst is measured closed-loop from its first send; a reconnect storm inside it has no time line to sit on")
	}
	if f.Protocol == Protocol5 && f.CleanSession != nil && !*f.CleanSession && !f.KeepsSession() {
		v.add(p, "clean_session false keeps an MQTT 5 session only with mqtt5.session_expiry > 0; set it or clean_session true")
	}
	if total := v.s.Total(); r.At <= 0 || (total > 0 && r.At.D() >= total) {
		v.add(p+".at", "must lie inside the load, between 0 and %s, got %s", total, r.At)
	}
	if !(r.Fraction > 0 && r.Fraction <= 1) {
		v.add(p+".fraction", "must be in (0, 1], got %v", r.Fraction)
	}
	b := r.Backoff
	if b.Initial <= 0 {
		v.add(p+".backoff.initial", "must be positive, got %s", b.Initial)
	}
	if b.Max < b.Initial {
		v.add(p+".backoff.max", "max %s is below initial %s", b.Max, b.Initial)
	}
	if !(b.Multiplier >= 1) || math.IsInf(b.Multiplier, 0) {
		v.add(p+".backoff.multiplier", "must be at least 1, got %v", b.Multiplier)
	}
	if !(b.Jitter >= 0 && b.Jitter <= 1) {
		v.add(p+".backoff.jitter", "must be a fraction between 0 and 1, got %v", b.Jitter)
	}
}
