// Package schedule turns a scenario into a deterministic plan: every device's id
// and topics, and every message's sequence number, intended send time and sampled
// values. The same scenario and seed always give the same plan; the load engine
// only replays it against the clock.
package schedule

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/citybench/citybench/scenarios"
)

// Plan is the whole offered load of a run, or of one segment of it.
type Plan struct {
	Devices []*Device
	// Segment is the slice of the scenario's devices this plan holds (Whole: all).
	Segment Segment
	// Warmup is the offset at which the measured window starts.
	Warmup time.Duration
	// End is the offset of the end of the last phase.
	End    time.Duration
	Phases []PhaseSpan
	// Replays says, per replay fleet, what its devices replayed of their recording.
	Replays []ReplayStats
}

// PhaseSpan is a phase placed on the run's time line.
type PhaseSpan struct {
	Name       string
	Start, End time.Duration
}

// Device is one simulated device and everything it will send.
type Device struct {
	Index int // position in Plan.Devices
	// Global is the position in the unsliced plan: the {index} placeholder and the
	// broker a device connects to follow it, so a segment's devices are the same
	// devices as in the whole run.
	Global   int
	ID       string
	Fleet    *scenarios.Fleet
	Location map[string]string
	// Messages in send order; Messages[i].Seq == i+1.
	Messages []Message
	// Metrics are the fleet's metric names, indexing Message.Values.
	Metrics []string
}

// Message is one MQTT publish.
type Message struct {
	Seq uint64
	// At is the intended send time as an offset from the run's start.
	At    time.Duration
	Topic string
	// Metric is the index of the single metric this message carries, or -1 for all.
	Metric int
	// Values holds one sample of every metric (shared by the messages of one
	// sample); NaN where a replayed recording has no value.
	Values []float64
	// Malformed is 0 for a valid reading, else 1 + the index of its kind in the
	// fleet's MalformedMix (see Device.MalformedKind).
	Malformed uint8
}

// Count is the number of messages in the plan.
func (p *Plan) Count() int {
	n := 0
	for _, d := range p.Devices {
		n += len(d.Messages)
	}
	return n
}

// MeasuredCount is the number of messages intended at or after the warm-up.
func (p *Plan) MeasuredCount() int {
	n := 0
	for _, d := range p.Devices {
		for _, m := range d.Messages {
			if m.At >= p.Warmup {
				n++
			}
		}
	}
	return n
}

var placeholder = regexp.MustCompile(`\{([a-zA-Z0-9_]+)\}`)

// Build computes the plan of sc. sc must have been validated (defaults applied).
func Build(sc *scenarios.Scenario) (*Plan, error) { return BuildSegment(sc, Whole) }

// BuildSegment computes the part of sc's plan that segment seg holds: device k of
// every fleet belongs to segment k mod N. Every device keeps the id, topics,
// intended times and values it has in the whole plan.
func BuildSegment(sc *scenarios.Scenario, seg Segment) (*Plan, error) {
	if err := seg.Validate(); err != nil {
		return nil, err
	}
	p := &Plan{Warmup: sc.Warmup.D(), Segment: seg}
	t := p.Warmup
	for _, ph := range sc.Phases {
		p.Phases = append(p.Phases, PhaseSpan{Name: ph.Name, Start: t, End: t + ph.Duration.D()})
		t += ph.Duration.D()
	}
	p.End = t
	if p.End <= p.Warmup {
		return nil, fmt.Errorf("scenario %q has no phase time: give it a duration or phases", sc.Name)
	}
	prof := newProfile(sc, p)
	global := 0
	for fi := range sc.Fleets {
		f := &sc.Fleets[fi]
		metrics := make([]string, len(f.Sensors))
		for i, s := range f.Sensors {
			metrics[i] = s.Metric
		}
		perMetric := strings.Contains(f.Topic, "{metric}")
		var rs *ReplayStats
		if f.Replay != nil {
			p.Replays = append(p.Replays, ReplayStats{Fleet: f.Name, File: f.Replay.File, SHA256: f.Replay.Data.SHA256})
			rs = &p.Replays[len(p.Replays)-1]
		}
		for i := 0; i < f.Devices; i, global = i+1, global+1 {
			if !seg.Holds(i) {
				continue
			}
			d := &Device{
				Index:    len(p.Devices),
				Global:   global,
				ID:       deviceID(f.Name, i),
				Fleet:    f,
				Location: location(f, i),
				Metrics:  metrics,
			}
			if rs != nil {
				rs.Sites++
				rs.MissingDays += f.Replay.Data.Sites[i].MissingDays
				planReplay(d, replaySourceOf(f.Replay, i), perMetric, p.End, rs)
				rs.Messages += len(d.Messages)
			} else {
				rng := rand.New(rand.NewPCG(uint64(sc.Seed), hash64(f.Name, i)))
				if err := planDevice(d, i, perMetric, rng, prof); err != nil {
					return nil, err
				}
			}
			markMalformed(d, sc.Seed)
			p.Devices = append(p.Devices, d)
		}
	}
	return p, nil
}

func deviceID(fleet string, i int) string { return fmt.Sprintf("%s-%05d", fleet, i) }

func hash64(s string, i int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	h.Write([]byte(strconv.Itoa(i)))
	return h.Sum64()
}

// location gives device i the values of the location placeholders of its topic
// and will topic, spreading devices over Locations as a mixed-radix counter so
// neighbours differ in the first placeholder first. The topic's keys come first,
// so a will that names no other key changes no device's location.
func location(f *scenarios.Fleet, i int) map[string]string {
	templates := []string{f.Topic}
	if f.Will != nil {
		templates = append(templates, f.Will.Topic)
	}
	keys := make([]string, 0, len(f.Locations))
	for _, tpl := range templates {
		for _, m := range placeholder.FindAllStringSubmatch(tpl, -1) {
			if vals, ok := f.Locations[m[1]]; ok && len(vals) > 0 && !slices.Contains(keys, m[1]) {
				keys = append(keys, m[1])
			}
		}
	}
	loc := make(map[string]string, len(keys))
	rest := i
	for _, k := range keys {
		vals := f.Locations[k]
		loc[k] = vals[rest%len(vals)]
		rest /= len(vals)
	}
	return loc
}

// Topic expands the fleet's topic template for device d and metric index m (-1: none).
func (d *Device) Topic(m int) string { return d.expand(d.Fleet.Topic, m) }

// WillTopic expands the fleet's last-will topic for device d, with the same
// placeholders as its topic ("" when the fleet has no will). A will is one message
// per device, so it carries no {metric}.
func (d *Device) WillTopic() string {
	if d.Fleet.Will == nil {
		return ""
	}
	return d.expand(d.Fleet.Will.Topic, -1)
}

// expand fills a topic template's placeholders for device d and metric index m.
func (d *Device) expand(template string, m int) string {
	return placeholder.ReplaceAllStringFunc(template, func(s string) string {
		name := s[1 : len(s)-1]
		switch name {
		case "device":
			return d.ID
		case "fleet":
			return d.Fleet.Name
		case "index":
			return strconv.Itoa(d.Global)
		case "metric":
			if m >= 0 {
				return d.Metrics[m]
			}
			return s
		}
		if v, ok := d.Location[name]; ok {
			return v
		}
		return s
	})
}

// Topics lists every topic device d publishes on.
func (d *Device) Topics() []string {
	if !strings.Contains(d.Fleet.Topic, "{metric}") {
		return []string{d.Topic(-1)}
	}
	out := make([]string, len(d.Metrics))
	for i := range d.Metrics {
		out[i] = d.Topic(i)
	}
	return out
}

func planDevice(d *Device, idx int, perMetric bool, rng *rand.Rand, prof *profile) error {
	f := d.Fleet
	if f.Arrival.Burst() {
		planBurst(d, idx, perMetric, rng)
		return nil
	}
	topics := d.Topics()
	base := f.Arrival.Interval.D()
	// Spread the first sends uniformly over one interval of rate-scaled time, so
	// devices neither fire in lockstep nor bunch up behind a ramp from zero.
	t := prof.advance(prof.start, time.Duration(rng.Int64N(int64(max(base, time.Millisecond)))))
	seq := uint64(0)
	sample := 0
	for t < prof.end {
		_, active := prof.at(t)
		values := sampleValues(f, sample, rng)
		sample++
		interval := base
		if f.Severity != nil {
			interval = severityInterval(f, d.Metrics, values, base)
		}
		if active > 0 && float64(idx) < active*float64(f.Devices) {
			if perMetric {
				for m := range d.Metrics {
					seq++
					d.Messages = append(d.Messages, Message{Seq: seq, At: t, Topic: topics[m], Metric: m, Values: values})
				}
			} else {
				seq++
				d.Messages = append(d.Messages, Message{Seq: seq, At: t, Topic: topics[0], Metric: -1, Values: values})
			}
		}
		step := interval
		switch f.Arrival.Kind {
		case "poisson":
			step = time.Duration(rng.ExpFloat64() * float64(step))
		default:
			if j := f.Arrival.Jitter.D(); j > 0 {
				step += time.Duration(rng.Int64N(int64(2*j))) - j
			}
		}
		if step < time.Microsecond {
			step = time.Microsecond
		}
		t = prof.advance(t, step)
	}
	return nil
}

// planBurst gives a burst device its Count messages, all due at the device's
// start: the devices send them back to back, each as soon as an in-flight slot
// frees, so the moment a message actually becomes due is known only at run time
// (the ledger records it). Starts are spread evenly over Arrival.Start.
func planBurst(d *Device, idx int, perMetric bool, rng *rand.Rand) {
	f := d.Fleet
	at := time.Duration(0)
	if f.Devices > 0 {
		at = time.Duration(int64(f.Arrival.Start.D()) * int64(idx) / int64(f.Devices))
	}
	topics := d.Topics()
	d.Messages = make([]Message, 0, f.Arrival.Count)
	var values []float64
	for seq := uint64(1); seq <= uint64(f.Arrival.Count); seq++ {
		m := Message{Seq: seq, At: at, Topic: topics[0], Metric: -1}
		if perMetric {
			m.Metric = int(seq-1) % len(d.Metrics)
			m.Topic = topics[m.Metric]
		}
		if m.Metric <= 0 { // a new sample for each message, or for each round of metrics
			values = sampleValues(f, int(seq-1), rng)
		}
		m.Values = values
		d.Messages = append(d.Messages, m)
	}
}

// ClosedLoop reports whether any device of the plan sends bursts paced by
// acknowledgements rather than by the clock.
func (p *Plan) ClosedLoop() bool {
	for _, d := range p.Devices {
		if d.Fleet.Arrival.Burst() {
			return true
		}
	}
	return false
}

func sampleValues(f *scenarios.Fleet, sample int, rng *rand.Rand) []float64 {
	vals := make([]float64, len(f.Sensors))
	for i, s := range f.Sensors {
		mean := s.Mean
		if f.Severity != nil && f.Severity.Metric == s.Metric {
			mean += f.Severity.Trend * float64(sample)
		}
		v := mean + rng.NormFloat64()*s.StdDev
		if s.Min != nil {
			v = math.Max(v, *s.Min)
		}
		if s.Max != nil {
			v = math.Min(v, *s.Max)
		}
		// Three decimals are what real sensors report and keep payloads stable across codecs.
		vals[i] = math.Round(v*1000) / 1000
	}
	return vals
}

// severityInterval is the sampling interval of the mode the severity metric's
// current value puts the device in.
func severityInterval(f *scenarios.Fleet, metrics []string, values []float64, base time.Duration) time.Duration {
	for i, m := range metrics {
		if m == f.Severity.Metric {
			if mode := modeOf(f.Severity, values[i]); mode != nil {
				return mode.Interval.D()
			}
		}
	}
	return base
}

func modeOf(sev *scenarios.Severity, v float64) *scenarios.SeverityMode {
	if sev == nil || len(sev.Modes) == 0 {
		return nil
	}
	mode := &sev.Modes[0]
	for i := range sev.Modes {
		if v > sev.Modes[i].Above {
			mode = &sev.Modes[i]
		}
	}
	return mode
}

// Mode names the severity mode a value puts a device in ("" without severity).
func Mode(sev *scenarios.Severity, v float64) string {
	if m := modeOf(sev, v); m != nil {
		return m.Name
	}
	return ""
}

// profile is the load shape over time: rate factor and active fraction, with
// linear ramps. The warm-up runs at the first phase's level.
type profile struct {
	start, end time.Duration
	points     []point // piecewise: at each phase start, its (rate, active); ramps interpolate
}

type point struct {
	start, end   time.Duration
	rate, active float64
	fromRate     float64
	fromActive   float64
	ramp         bool
}

func newProfile(sc *scenarios.Scenario, p *Plan) *profile {
	pr := &profile{start: 0, end: p.End}
	prevRate, prevActive := 0.0, 0.0
	for i, ph := range sc.Phases {
		span := p.Phases[i]
		pt := point{start: span.Start, end: span.End, rate: ph.RateFactor, active: ph.ActiveFraction,
			fromRate: prevRate, fromActive: prevActive, ramp: ph.Ramp}
		if i == 0 && !ph.Ramp {
			pt.fromRate, pt.fromActive = ph.RateFactor, ph.ActiveFraction
		}
		pr.points = append(pr.points, pt)
		prevRate, prevActive = ph.RateFactor, ph.ActiveFraction
	}
	sort.Slice(pr.points, func(i, j int) bool { return pr.points[i].start < pr.points[j].start })
	return pr
}

// at returns the rate factor and active fraction at offset t.
func (pr *profile) at(t time.Duration) (rate, active float64) {
	if len(pr.points) == 0 {
		return 1, 1
	}
	if t < pr.points[0].start { // warm-up
		first := pr.points[0]
		if first.ramp {
			return first.fromRate, first.fromActive
		}
		return first.rate, first.active
	}
	for _, pt := range pr.points {
		if t >= pt.start && t < pt.end {
			if !pt.ramp {
				return pt.rate, pt.active
			}
			frac := float64(t-pt.start) / float64(pt.end-pt.start)
			r := pt.fromRate + (pt.rate-pt.fromRate)*frac
			a := pt.fromActive + (pt.active-pt.fromActive)*frac
			return r, a
		}
	}
	last := pr.points[len(pr.points)-1]
	return last.rate, last.active
}

// rampSlice bounds how far advance steps at once inside a ramp, where the rate
// changes continuously.
const rampSlice = 50 * time.Millisecond

// advance returns the time at which a device that sends every `step` at rate
// factor 1 sends next, integrating the rate factor from t: at factor 2 the step
// takes half the time, and a ramp from zero speeds devices up smoothly instead of
// parking them at a huge first step.
func (pr *profile) advance(t, step time.Duration) time.Duration {
	remaining := float64(step)
	for remaining > 0 && t < pr.end {
		rate, _ := pr.at(t)
		limit := pr.end - t
		for _, pt := range pr.points {
			if t < pt.start {
				limit = min(limit, pt.start-t)
				break
			}
			if t < pt.end {
				if pt.ramp {
					limit = min(limit, rampSlice)
				} else {
					limit = min(limit, pt.end-t)
				}
				break
			}
		}
		if rate <= 0 {
			t += limit
			continue
		}
		if need := time.Duration(remaining / rate); need <= limit {
			return t + max(need, 1)
		}
		remaining -= float64(limit) * rate
		t += limit
	}
	return t
}
