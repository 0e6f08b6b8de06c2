package downlink

import (
	"math"
	"sort"
	"time"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// Planned is one command on the run's time line.
type Planned struct {
	Seq    uint64        // unique in the whole run, from 1, so the segments of a run agree
	Device int           // index in the schedule's plan
	At     time.Duration // intended send time, offset from the run's start
	Name   string
	Params []string
	QoS    byte
}

// Plan is every command of a run (or of the segment its schedule holds), in
// intended-time order.
type Plan struct {
	Commands []Planned
	devices  *schedule.Plan
	byID     map[string]int // device id → index in devices
}

// Build plans sc's commands for the devices of plan. Devices are chosen evenly
// over their fleet (device k when ⌊(k+1)·fraction⌋ > ⌊k·fraction⌋); a rate sends
// its i-th command at start + i/rate to the (i mod n)-th chosen device; at
// offsets every chosen device gets one command at each.
func Build(sc *scenarios.Scenario, plan *schedule.Plan) *Plan {
	byGlobal := make(map[int]int, len(plan.Devices))
	for _, d := range plan.Devices {
		byGlobal[d.Global] = d.Index
	}
	first := map[string]int{} // fleet → global index of its first device
	g := 0
	for _, f := range sc.Fleets {
		first[f.Name] = g
		g += f.Devices
	}
	p := &Plan{devices: plan, byID: deviceIDs(plan)}
	var seq uint64
	add := func(global int, at time.Duration, c scenarios.Command) {
		seq++
		if dev, ok := byGlobal[global]; ok {
			p.Commands = append(p.Commands, Planned{Seq: seq, Device: dev, At: at, Name: c.Name, Params: c.Params, QoS: byte(c.QoS)})
		}
	}
	for _, c := range sc.Commands {
		chosen := choose(sc, c, first[c.Fleet])
		if len(chosen) == 0 {
			continue
		}
		if c.Rate > 0 {
			n := int(math.Ceil((c.End-c.Start).D().Seconds()*c.Rate - 1e-9))
			for i := range n {
				at := c.Start.D() + time.Duration(float64(i)/c.Rate*float64(time.Second))
				add(chosen[i%len(chosen)], at, c)
			}
			continue
		}
		for _, at := range c.At {
			for _, global := range chosen {
				add(global, at.D(), c)
			}
		}
	}
	sort.SliceStable(p.Commands, func(i, j int) bool { return p.Commands[i].At < p.Commands[j].At })
	return p
}

// choose lists the global indexes of the devices command c addresses.
func choose(sc *scenarios.Scenario, c scenarios.Command, first int) []int {
	var out []int
	for _, f := range sc.Fleets {
		if f.Name != c.Fleet {
			continue
		}
		for k := range f.Devices {
			if math.Floor(float64(k+1)*c.Fraction) > math.Floor(float64(k)*c.Fraction) {
				out = append(out, first+k)
			}
		}
	}
	return out
}

// Device is the schedule's device a command goes to.
func (p *Plan) Device(c *Planned) *schedule.Device { return p.devices.Devices[c.Device] }

// Listening reports whether any device of the plan subscribes to a control topic.
func Listening(plan *schedule.Plan) bool {
	for _, d := range plan.Devices {
		if d.Fleet.ControlTopic != "" {
			return true
		}
	}
	return false
}
