package scenarios

import (
	"fmt"
	"math"
	"slices"

	"github.com/citybench/citybench/pipeline/topics"
)

// Command sends downlink commands to a fleet, or a fraction of it, from the
// harness: the alert-based testbench's `…/control [command, p1, p2, p3]`. The
// commands are open-loop like uplink messages: each has an intended send time,
// either At given offsets (one command to every chosen device at each) or at
// Rate commands per second from Start to End, to the chosen devices in turn.
// Devices answer every command with an acknowledgement on their fleet's ack
// topic; the result measures delivery and round-trip latency from the intended
// send time.
type Command struct {
	// Name is the command word devices receive, e.g. set_interval.
	Name  string `yaml:"name"`
	Fleet string `yaml:"fleet"`
	// Fraction is the share of the fleet's devices addressed, spread evenly over
	// the fleet (default 1: all).
	Fraction float64    `yaml:"fraction,omitempty"`
	Rate     float64    `yaml:"rate,omitempty"` // commands per second over all chosen devices
	At       []Duration `yaml:"at,omitempty"`
	// Start and End bound a rate (offsets on the run's time line, warm-up
	// included; default: the measured window).
	Start  Duration `yaml:"start,omitempty"`
	End    Duration `yaml:"end,omitempty"`
	Params []string `yaml:"params,omitempty"` // p1, p2, p3
	QoS    int      `yaml:"qos,omitempty"`    // default 1
}

// DefaultCommandQoS is the QoS commands and acknowledgements travel at unless set.
const DefaultCommandQoS = 1

// DefaultAckSuffix is appended to a fleet's control topic to make its ack topic
// when none is given: a level below the control topic, which devices do not
// subscribe to.
const DefaultAckSuffix = "/ack"

// maxCommandParams is the paper's [command, p1, p2, p3].
const maxCommandParams = 3

func (s *Scenario) setCommandDefaults() {
	for i := range s.Fleets {
		f := &s.Fleets[i]
		if f.ControlTopic != "" && f.AckTopic == "" {
			f.AckTopic = f.ControlTopic + DefaultAckSuffix
		}
	}
	for i := range s.Commands {
		c := &s.Commands[i]
		p := fmt.Sprintf("commands[%d]", i)
		defFloat(s, &c.Fraction, p+".fraction", 1)
		defInt(s, &c.QoS, p+".qos", DefaultCommandQoS)
		if c.Rate > 0 {
			defDuration(s, &c.Start, p+".start", s.Warmup.D())
			defDuration(s, &c.End, p+".end", s.Total())
		}
	}
}

// fleetDownlink checks a fleet's control and ack topics.
func (v *validator) fleetDownlink(p string, f *Fleet) {
	if f.ControlTopic == "" {
		if v.s.has(p + ".ack_topic") {
			v.add(p+".ack_topic", "an ack topic needs a control_topic to answer commands from")
		}
		return
	}
	if f.Protocol == Protocol5 {
		// The devices' control subscription is paho 3.1.1's (harness/devices/control.go).
		v.add(p+".control_topic", "control topics are served to MQTT 3.1.1 devices only for now: use protocol %s for this fleet", Protocol311)
	}
	for _, t := range []struct{ field, topic string }{{"control_topic", f.ControlTopic}, {"ack_topic", f.AckTopic}} {
		fp := p + "." + t.field
		v.topic(fp, t.topic, f)
		names := mustPlaceholders(t.topic)
		if slices.Contains(names, PlaceholderMetric) {
			v.add(fp, "commands and acknowledgements are one message per device, so {%s} has no value in this topic", PlaceholderMetric)
		}
		uplink := mustPlaceholders(f.Topic)
		for _, n := range names {
			if !isBuiltinPlaceholder(n) && !slices.Contains(uplink, n) {
				v.add(fp, "placeholder {%s} is not in the fleet's topic, so devices have no value for it", n)
			}
		}
		if t.field == "control_topic" && !slices.Contains(names, PlaceholderDevice) && !slices.Contains(names, PlaceholderIndex) {
			v.add(fp, "a command is for one device: the control topic needs {%s} or {%s}", PlaceholderDevice, PlaceholderIndex)
		}
	}
	if f.AckTopic == f.ControlTopic {
		v.add(p+".ack_topic", "must differ from the control topic, which devices subscribe to (default: control topic + %q)", DefaultAckSuffix)
	}
	if f.Connection == ConnectionConnectSendDisconnect {
		v.add(p+".control_topic", "connect-send-disconnect devices are offline between sends and cannot receive commands; use connection: persistent")
	}
}

func (v *validator) commands() {
	s := v.s
	for i, c := range s.Commands {
		p := fmt.Sprintf("commands[%d]", i)
		if c.Name == "" {
			v.add(p+".name", "name is required (the command word devices receive)")
		} else if !nameRE.MatchString(c.Name) {
			v.add(p+".name", "name %q: use letters, digits, '.', '_' or '-'", c.Name)
		}
		fi := slices.IndexFunc(s.Fleets, func(f Fleet) bool { return f.Name == c.Fleet })
		switch {
		case c.Fleet == "":
			v.add(p+".fleet", "fleet is required")
		case fi < 0:
			v.add(p+".fleet", "no fleet named %q", c.Fleet)
		case s.Fleets[fi].ControlTopic == "":
			v.add(p+".fleet", "fleet %q has no control_topic, so its devices do not listen for commands", c.Fleet)
		}
		if !(c.Fraction > 0 && c.Fraction <= 1) {
			v.add(p+".fraction", "must be in (0, 1], got %v", c.Fraction)
		}
		if c.QoS < 0 || c.QoS > 2 {
			v.add(p+".qos", "qos must be 0, 1 or 2, got %d", c.QoS)
		}
		if len(c.Params) > maxCommandParams {
			v.add(p+".params", "at most %d parameters (the control message is [command, p1, p2, p3]), got %d", maxCommandParams, len(c.Params))
		}
		v.commandTimes(p, c)
	}
}

func (v *validator) commandTimes(p string, c Command) {
	total := v.s.Total()
	switch {
	case (c.Rate != 0) == (len(c.At) > 0):
		v.add(p, "give either rate (commands per second) or at (offsets)")
	case c.Rate != 0:
		if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
			v.add(p+".rate", "must be a positive number of commands per second, got %v", c.Rate)
		}
		if c.Start < 0 || c.End <= c.Start || c.End.D() > total {
			v.add(p+".end", "the rate's window [%s, %s) must be non-empty and within the run (0 … %s)", c.Start, c.End, Duration(total))
		}
	default:
		for j, at := range c.At {
			if at < 0 || at.D() >= total {
				v.add(fmt.Sprintf("%s.at[%d]", p, j), "offset %s is outside the run (0 … %s)", at, Duration(total))
			}
		}
	}
}

// ControlFilters are the MQTT filters covering every fleet's control and ack
// topics, sorted: the device control plane, which a pipeline's bridge leaves
// to others rather than treating as readings. Call it on a validated scenario.
func (s *Scenario) ControlFilters() []string {
	var out []string
	for _, f := range s.Fleets {
		if f.ControlTopic == "" {
			continue
		}
		for _, t := range []string{f.ControlTopic, f.AckTopic} {
			if tpl, err := topics.Parse(t); err == nil && !slices.Contains(out, tpl.Filter()) {
				out = append(out, tpl.Filter())
			}
		}
	}
	slices.Sort(out)
	return out
}
