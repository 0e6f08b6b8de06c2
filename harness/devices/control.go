package devices

import (
	"context"
	"fmt"
	"slices"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/citybench/citybench/harness/downlink"
	"github.com/citybench/citybench/harness/schedule"
)

// control is the devices' downlink side: they listen on their control topic,
// answer each command on their ack topic and report severity-mode changes on
// the control topic, as the alert-based testbench's nodes do.
type control struct {
	rec *downlink.Recorder
	// modes is each device's last severity mode, written only by the device's
	// sending goroutine.
	modes []string
}

// controlQoS is the QoS devices subscribe at: the broker then delivers each
// command at the QoS it was published with.
const controlQoS = 2

// ackTimeout bounds how long a device's handler waits for its acknowledgement's publish.
const ackTimeout = 10 * time.Second

// WithDownlink makes the devices of fleets with a control topic subscribe to it,
// record each command's receipt in rec and acknowledge it.
func WithDownlink(rec *downlink.Recorder) Option {
	return func(s *Simulator) { s.ctl = &control{rec: rec, modes: make([]string, len(s.plan.Devices))} }
}

// subscribeControl subscribes device d to its control topic, if it has one,
// and waits for the broker's grant.
func (s *Simulator) subscribeControl(ctx context.Context, dc client, d *schedule.Device) error {
	if s.ctl == nil || d.Fleet.ControlTopic == "" {
		return nil
	}
	c, ok := pahoV3(dc)
	if !ok {
		return fmt.Errorf("subscribe device %s to %s: control topics need an MQTT 3.1.1 device", d.ID, d.ControlTopic())
	}
	if err := waitToken(ctx, c.Subscribe(d.ControlTopic(), controlQoS, s.onControl(d))); err != nil {
		return fmt.Errorf("subscribe device %s to %s: %w", d.ID, d.ControlTopic(), err)
	}
	return nil
}

// resubscribeControl subscribes again on a reconnection: a clean session forgot
// the subscription. It runs on paho's connect-handler goroutine.
func (s *Simulator) resubscribeControl(c mqtt.Client, d *schedule.Device) {
	if s.ctl == nil || d.Fleet.ControlTopic == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	if err := waitToken(ctx, c.Subscribe(d.ControlTopic(), controlQoS, s.onControl(d))); err != nil {
		s.ledger.Error(time.Now().UnixNano())
		s.log.Warn("device control subscription", "device", d.ID, "err", err)
	}
}

// onControl is device d's control-topic handler. paho runs each call on its own
// goroutine (SetOrderMatters(false)), so waiting for the ack's publish holds up
// no other message.
func (s *Simulator) onControl(d *schedule.Device) mqtt.MessageHandler {
	return func(c mqtt.Client, m mqtt.Message) {
		now := time.Now().UnixNano()
		ctl, err := downlink.DecodeControl(m.Payload())
		if err == nil && ctl.Kind == downlink.KindSeverity {
			return // its own report, echoed by the broker
		}
		if err != nil || ctl.Kind != downlink.KindCommand || ctl.DeviceID != d.ID {
			s.ctl.rec.Received(d.Index, 0, now) // counted as unknown
			return
		}
		s.ctl.rec.Received(d.Index, ctl.Seq, now)
		ack := downlink.Encode(downlink.Ack{DeviceID: d.ID, Seq: ctl.Seq, TIntended: ctl.TIntended, TReceived: now})
		if t := c.Publish(d.AckTopic(), m.Qos(), false, ack); t.WaitTimeout(ackTimeout) && t.Error() != nil {
			s.ctl.rec.Error()
			s.log.Warn("device acknowledgement", "device", d.ID, "command", ctl.Seq, "err", t.Error())
		}
	}
}

// reportSeverity publishes a severity report on d's control topic when message
// m's sample puts the device in another mode than its previous sample did. The
// publish is not waited for: it shares the device's send loop.
func (s *Simulator) reportSeverity(c client, d *schedule.Device, m *schedule.Message) {
	sev := d.Fleet.Severity
	if s.ctl == nil || sev == nil || d.Fleet.ControlTopic == "" {
		return
	}
	i := slices.Index(d.Metrics, sev.Metric)
	if i < 0 {
		return
	}
	mode := schedule.Mode(sev, m.Values[i])
	prev := s.ctl.modes[d.Index]
	s.ctl.modes[d.Index] = mode
	if prev == "" || prev == mode {
		return
	}
	report := downlink.Encode(downlink.Control{Kind: downlink.KindSeverity, DeviceID: d.ID, Seq: m.Seq, Mode: mode, T: time.Now().UnixNano()})
	c.Publish(publication{Topic: d.ControlTopic(), QoS: byte(d.Fleet.QoS), Payload: report, DeviceID: d.ID})
	s.ctl.rec.SeverityReported()
}

// pahoV3 is the paho 3.1.1 client under c, reconnecting link or not: the
// control-topic subscription is paho's (MQTT 5 fleets are refused commands).
func pahoV3(c client) (mqtt.Client, bool) {
	if l, ok := c.(*link); ok {
		c = l.c
	}
	m, ok := c.(*mqtt3)
	if !ok {
		return nil, false
	}
	return m.c, true
}
