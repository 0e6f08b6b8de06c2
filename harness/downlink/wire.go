// Package downlink plans, sends and accounts for the commands the harness sends
// down to devices — the alert-based testbench's control topic — and the
// acknowledgements devices send back: delivery and round-trip latency from each
// command's intended send time (open loop, as uplink), with delivered, lost and
// duplicated counts per stage.
package downlink

import (
	"encoding/json"
	"fmt"
)

// Kinds of control-topic messages.
const (
	KindCommand  = "command"  // harness → device
	KindSeverity = "severity" // device → control topic: its severity mode changed
)

// Control is one message on a device's control topic, JSON-encoded: a command
// {"kind":"command","device_id":…,"seq":7,"t_intended":…,"command":"set_interval","params":["20s"]}
// — the paper's [command, p1, p2, p3] with citybench's envelope — or a device's
// severity report {"kind":"severity","device_id":…,"seq":…,"mode":"WARNING","t":…},
// where seq is the uplink message whose sample changed the mode.
type Control struct {
	Kind      string   `json:"kind"`
	DeviceID  string   `json:"device_id"`
	Seq       uint64   `json:"seq"`
	TIntended int64    `json:"t_intended,omitempty"` // unix ns
	Command   string   `json:"command,omitempty"`
	Params    []string `json:"params,omitempty"`
	Mode      string   `json:"mode,omitempty"`
	T         int64    `json:"t,omitempty"` // unix ns the report was made
}

// Ack is a device's answer to command Seq, on its fleet's ack topic.
type Ack struct {
	DeviceID  string `json:"device_id"`
	Seq       uint64 `json:"seq"`
	TIntended int64  `json:"t_intended"`
	TReceived int64  `json:"t_received"` // unix ns the device received the command
}

// Encode marshals a control message or an ack.
func Encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("downlink: encode %T: %v", v, err)) // plain strings and numbers: cannot fail
	}
	return b
}

// DecodeControl parses a control-topic message.
func DecodeControl(b []byte) (Control, error) {
	var c Control
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("control message: %w", err)
	}
	return c, nil
}

// DecodeAck parses an acknowledgement.
func DecodeAck(b []byte) (Ack, error) {
	var a Ack
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("ack: %w", err)
	}
	if a.Seq == 0 || a.DeviceID == "" {
		return a, fmt.Errorf("ack: device_id and seq are required")
	}
	return a, nil
}
