package scenarios

import (
	"testing"
	"time"
)

func TestProtocolAndReconnectParse(t *testing.T) {
	tests := []struct {
		name    string
		fleet   string // lines added to minimal's fleet
		wantErr string // substring of an error, "" for valid
		line    int    // the line that error must name
	}{
		{"default 3.1.1", "", "", 0},
		{"protocol 5 as a number", "    protocol: 5\n", "", 0},
		{"protocol 3.1.1", "    protocol: 3.1.1\n", "", 0},
		{"mqtt5 settings", "    protocol: 5\n    clean_session: false\n    mqtt5: {session_expiry: 1h, message_expiry: 30s, topic_aliases: true}\n", "", 0},
		{"storm with defaults", "    reconnect: {at: 2s}\n", "", 0},
		{"protocol 3", "    protocol: 3\n", `fleets[0].protocol: unknown MQTT protocol "3" (want 3.1.1 or 5)`, 11},
		{"protocol v5", "    protocol: v5\n", `unknown MQTT protocol "v5"`, 11},
		{"mqtt5 on 3.1.1", "    mqtt5: {topic_aliases: true}\n", "fleets[0].mqtt5: mqtt5 settings need protocol: 5", 11},
		{"fractional expiry", "    protocol: 5\n    mqtt5: {message_expiry: 1500ms}\n", "fleets[0].mqtt5.message_expiry: MQTT 5 intervals are whole seconds", 12},
		{"negative session expiry", "    protocol: 5\n    mqtt5:\n      session_expiry: -1s\n", "fleets[0].mqtt5.session_expiry: must be between 0 and", 13},
		{"v5 persistent without expiry", "    protocol: 5\n    clean_session: false\n    reconnect: {at: 2s}\n", "keeps an MQTT 5 session only with mqtt5.session_expiry > 0", 13},
		{"storm after the end", "    reconnect: {at: 5s}\n", "fleets[0].reconnect.at: must lie inside the load, between 0 and 5s, got 5s", 11},
		{"storm fraction", "    reconnect:\n      at: 1s\n      fraction: 1.5\n", "fleets[0].reconnect.fraction: must be in (0, 1], got 1.5", 13},
		{"storm jitter", "    reconnect:\n      at: 1s\n      backoff: {jitter: 2}\n", "fleets[0].reconnect.backoff.jitter: must be a fraction", 13},
		{"storm backoff", "    reconnect:\n      at: 1s\n      backoff: {initial: 2s, max: 1s, multiplier: 0.5}\n", "fleets[0].reconnect.backoff.max: max 1s is below initial 2s", 13},
		{"storm on connect-send-disconnect", "    connection: connect-send-disconnect\n    reconnect: {at: 1s}\n", "a reconnect storm drops kept connections", 12},
		{"storm unknown field", "    reconnect: {at: 1s, fraktion: 0.5}\n", `unknown field "fraktion"`, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("p.yaml", []byte(minimal+tt.fleet))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				f := s.Fleets[0]
				if f.Protocol != Protocol311 && f.Protocol != Protocol5 {
					t.Errorf("protocol %q", f.Protocol)
				}
				if r := f.Reconnect; r != nil && (r.Fraction != 1 || r.Backoff.Initial.D() != DefaultBackoffInitial || r.Backoff.Max.D() != DefaultBackoffMax || r.Backoff.Multiplier != 2 || r.Backoff.Jitter != 0.5) {
					t.Errorf("reconnect defaults not applied: %+v", r)
				}
				return
			}
			wantFieldError(t, err, "p.yaml", tt.wantErr, tt.line)
		})
	}
}

func TestKeepsSession(t *testing.T) {
	clean, persistent := true, false
	tests := []struct {
		name string
		f    Fleet
		want bool
	}{
		{"3.1.1 clean", Fleet{Protocol: Protocol311, CleanSession: &clean}, false},
		{"3.1.1 persistent", Fleet{Protocol: Protocol311, CleanSession: &persistent}, true},
		{"5 persistent without expiry", Fleet{Protocol: Protocol5, CleanSession: &persistent}, false},
		{"5 persistent with expiry", Fleet{Protocol: Protocol5, CleanSession: &persistent, MQTT5: &MQTT5{SessionExpiry: Duration(time.Minute)}}, true},
		{"5 clean with expiry", Fleet{Protocol: Protocol5, CleanSession: &clean, MQTT5: &MQTT5{SessionExpiry: Duration(time.Minute)}}, false},
	}
	for _, tt := range tests {
		if got := tt.f.KeepsSession(); got != tt.want {
			t.Errorf("%s: KeepsSession = %v, want %v", tt.name, got, tt.want)
		}
	}
}
