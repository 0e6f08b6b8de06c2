package schedule

import (
	"iter"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/citybench/citybench/scenarios"
)

// Sampler draws one sample of every metric of a device (indexed like
// Device.Metrics) for its sample-th reading. The seeded generator draws from
// rng, the device's one random stream, which the cursor also draws its timing
// jitter from; a source that replays recorded values may ignore rng. Messages
// of one sample share the returned slice, so it must not be changed later.
type Sampler func(sample int, rng *rand.Rand) []float64

// seededValues is the default source: each metric normal around its mean
// (plus the severity trend), clamped to its bounds, rounded to three decimals.
func seededValues(f *scenarios.Fleet) Sampler {
	return func(sample int, rng *rand.Rand) []float64 { return sampleValues(f, sample, rng) }
}

// generator is what a device's messages are computed from, so none of them is
// kept: the plan's memory is per device, not per message.
type generator struct {
	seed      uint64
	local     int // index of the device within its fleet (the whole fleet, not a segment)
	perMetric bool
	prof      *profile
	topics    []string // Device.Topics, expanded once
	end       time.Duration
	// replay is the recording a replay fleet's device plays (site local of it).
	replay        *scenarios.Replay
	malformedSeed int64

	countOnce sync.Once
	count     int
}

// Cursor walks one device's messages in send order, computing each from the
// device's seed as it goes. Two cursors of a device yield the same messages.
// A cursor is not safe for concurrent use; each reader takes its own.
type Cursor struct {
	d   *Device
	rng *rand.Rand
	seq uint64
	// Open loop: t is the intended time of the next sample; the current
	// sample's values and time, and how many of its messages are still due
	// (one per metric on a {metric} topic).
	t      time.Duration
	at     time.Duration
	values []float64
	left   int
	sample int
	done   bool
	src    ValueSource // a replay device's recording
}

// Cursor returns a cursor at the device's first message.
func (d *Device) Cursor() *Cursor {
	g := &d.gen
	c := &Cursor{d: d, rng: rand.New(rand.NewPCG(g.seed, hash64(d.Fleet.Name, g.local)))}
	f := d.Fleet
	if g.replay != nil {
		c.src = replaySourceOf(g.replay, g.local)
		return c
	}
	if f.Arrival.Burst() {
		// All of a burst device's messages are planned at its start (the moment
		// each becomes due is known only at run time); starts are spread evenly
		// over Arrival.Start.
		if f.Devices > 0 {
			c.at = time.Duration(int64(f.Arrival.Start.D()) * int64(g.local) / int64(f.Devices))
		}
		return c
	}
	// Spread the first sends uniformly over one interval of rate-scaled time, so
	// devices neither fire in lockstep nor bunch up behind a ramp from zero.
	base := f.Arrival.Interval.D()
	c.t = g.prof.advance(g.prof.start, time.Duration(c.rng.Int64N(int64(max(base, time.Millisecond)))))
	return c
}

// Next returns the device's next message; ok is false past its last.
func (c *Cursor) Next() (m Message, ok bool) {
	switch {
	case c.d.Fleet.Arrival.Burst():
		m, ok = c.nextBurst()
	case c.src != nil:
		m, ok = c.nextReplay()
	default:
		m, ok = c.nextOpen()
	}
	if ok {
		m.Malformed = c.d.MalformedAt(m.Seq)
	}
	return m, ok
}

// nextOpen yields the next message of a device that follows its arrival process.
func (c *Cursor) nextOpen() (m Message, ok bool) {
	for c.left == 0 {
		if c.done || !c.nextSample() {
			c.done = true
			return Message{}, false
		}
	}
	c.seq++
	m = Message{Seq: c.seq, At: c.at, Topic: c.d.gen.topics[0], Metric: -1, Values: c.values}
	if c.d.gen.perMetric {
		m.Metric = len(c.d.Metrics) - c.left
		m.Topic = c.d.gen.topics[m.Metric]
	}
	c.left--
	return m, true
}

// nextSample draws the sample at c.t and steps c.t on; it is false at the
// plan's end. A sample drawn while the device is inactive yields no message
// but still consumes its draws, so a device's values do not depend on phases.
func (c *Cursor) nextSample() bool {
	d, g, f := c.d, &c.d.gen, c.d.Fleet
	if c.t >= g.prof.end {
		return false
	}
	_, active := g.prof.at(c.t)
	values := d.Values(c.sample, c.rng)
	c.sample++
	interval := f.Arrival.Interval.D()
	if f.Severity != nil {
		interval = severityInterval(f, d.Metrics, values, interval)
	}
	if active > 0 && float64(g.local) < active*float64(f.Devices) {
		c.at, c.values, c.left = c.t, values, 1
		if g.perMetric {
			c.left = len(d.Metrics)
		}
	}
	step := interval
	switch f.Arrival.Kind {
	case "poisson":
		step = time.Duration(c.rng.ExpFloat64() * float64(step))
	default:
		if j := f.Arrival.Jitter.D(); j > 0 {
			step += time.Duration(c.rng.Int64N(int64(2*j))) - j
		}
	}
	c.t = g.prof.advance(c.t, max(step, time.Microsecond))
	return true
}

// nextBurst yields a burst device's Count messages, all planned at its start,
// metrics in turn on a {metric} topic with one sample per round of metrics.
func (c *Cursor) nextBurst() (Message, bool) {
	d, f := c.d, c.d.Fleet
	if c.seq >= uint64(f.Arrival.Count) {
		return Message{}, false
	}
	c.seq++
	m := Message{Seq: c.seq, At: c.at, Topic: d.gen.topics[0], Metric: -1}
	if d.gen.perMetric {
		m.Metric = int(c.seq-1) % len(d.Metrics)
		m.Topic = d.gen.topics[m.Metric]
	}
	if m.Metric <= 0 { // a new sample for each message, or for each round of metrics
		c.values = d.Values(int(c.seq-1), c.rng)
	}
	m.Values = c.values
	return m, true
}

// Count is how many messages the device sends; the first call walks them.
func (d *Device) Count() int {
	d.gen.countOnce.Do(func() {
		c := d.Cursor()
		for _, ok := c.Next(); ok; _, ok = c.Next() {
			d.gen.count++
		}
	})
	return d.gen.count
}

// HasMessages reports whether the device sends anything at all.
func (d *Device) HasMessages() bool {
	_, ok := d.Cursor().Next()
	return ok
}

// Messages computes all of the device's messages at once: for tests and small
// plans only — a run walks a Cursor, which keeps no message.
func (d *Device) Messages() []Message {
	var out []Message
	c := d.Cursor()
	for m, ok := c.Next(); ok; m, ok = c.Next() {
		out = append(out, m)
	}
	return out
}

// All yields the device's messages in send order, computed as they are asked for.
func (d *Device) All() iter.Seq[Message] {
	return func(yield func(Message) bool) {
		c := d.Cursor()
		for m, ok := c.Next(); ok; m, ok = c.Next() {
			if !yield(m) {
				return
			}
		}
	}
}
