package scenarios

import "testing"

// TestDownlinkFieldErrors checks the downlink fields' refusals name file, line
// and field.
func TestDownlinkFieldErrors(t *testing.T) {
	tests := []struct {
		name    string
		fleet   string // appended to minimal's fleet
		wantErr string
		line    int
	}{
		{"ack topic without a control topic", "    ack_topic: c/{device}/ack\n",
			"fleets[0].ack_topic: an ack topic needs a control_topic", 11},
		{"control topic without the device", "    control_topic: c/control\n",
			"fleets[0].control_topic: a command is for one device", 11},
		{"ack topic equal to the control topic", "    control_topic: c/{device}/control\n    ack_topic: c/{device}/control\n",
			"fleets[0].ack_topic: must differ from the control topic", 12},
		{"MQTT 5 fleet with a control topic", "    protocol: \"5\"\n    control_topic: c/{device}/control\n",
			"fleets[0].control_topic: control topics are served to MQTT 3.1.1 devices only", 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("d.yaml", []byte(minimal+tt.fleet))
			wantFieldError(t, err, "d.yaml", tt.wantErr, tt.line)
		})
	}
}
