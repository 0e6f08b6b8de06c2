package schedule

// The eager generators as they were before plans became lazy: every message of
// a device computed up front (seeded, replayed, then marked malformed). Kept here only, as the reference the lazy cursor
// must reproduce message for message.

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/citybench/citybench/scenarios"
)

func eagerDevice(d *Device, idx int, perMetric bool, rng *rand.Rand, prof *profile) []Message {
	var out []Message
	f := d.Fleet
	if f.Arrival.Burst() {
		return eagerBurst(d, idx, perMetric, rng)
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
					out = append(out, Message{Seq: seq, At: t, Topic: topics[m], Metric: m, Values: values})
				}
			} else {
				seq++
				out = append(out, Message{Seq: seq, At: t, Topic: topics[0], Metric: -1, Values: values})
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
	return out
}

// planBurst gives a burst device its Count messages, all due at the device's
// start: the devices send them back to back, each as soon as an in-flight slot
// frees, so the moment a message actually becomes due is known only at run time
// (the ledger records it). Starts are spread evenly over Arrival.Start.
func eagerBurst(d *Device, idx int, perMetric bool, rng *rand.Rand) []Message {
	f := d.Fleet
	at := time.Duration(0)
	if f.Devices > 0 {
		at = time.Duration(int64(f.Arrival.Start.D()) * int64(idx) / int64(f.Devices))
	}
	topics := d.Topics()
	out := make([]Message, 0, f.Arrival.Count)
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
		out = append(out, m)
	}
	return out
}

// eagerReplay is planReplay as it was: a replay device's messages from src.
func eagerReplay(d *Device, src ValueSource, perMetric bool, end time.Duration) []Message {
	var out []Message
	topics := d.Topics()
	seq := uint64(0)
	for {
		at, values, ok := src.Next()
		if !ok {
			return out
		}
		if at >= end {
			continue
		}
		empty := 0
		for _, v := range values {
			if math.IsNaN(v) {
				empty++
			}
		}
		if empty == len(values) {
			continue
		}
		if !perMetric {
			seq++
			out = append(out, Message{Seq: seq, At: at, Topic: topics[0], Metric: -1, Values: values})
			continue
		}
		for m, v := range values {
			if math.IsNaN(v) {
				continue
			}
			seq++
			out = append(out, Message{Seq: seq, At: at, Topic: topics[m], Metric: m, Values: values})
		}
	}
}

// eagerMarkMalformed is markMalformed as it was, over a device's messages.
func eagerMarkMalformed(d *Device, msgs []Message, seed int64) {
	f := d.Fleet
	if f.Malformed <= 0 {
		return
	}
	kinds := f.MalformedMix()
	for i := range msgs {
		h := fnv.New64a()
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], uint64(seed))
		binary.LittleEndian.PutUint64(b[8:], msgs[i].Seq)
		h.Write(b[:])
		h.Write([]byte(d.ID))
		x := mix(h.Sum64())
		if float64(x>>11)/(1<<53) >= f.Malformed {
			continue
		}
		msgs[i].Malformed = uint8(1 + (x&0x7ff)%uint64(len(kinds)))
	}
}

// TestLazyPlanEqualsEager builds every catalog scenario and wants each device's
// cursor to yield exactly the messages the eager generator computed: ids,
// topics, sequence numbers, intended times and values.
func TestLazyPlanEqualsEager(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.yaml", "faults/*.yaml", "experiments/*/*.yaml"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "scenarios", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("found %d catalog scenarios, want the catalog", len(files))
	}
	checked := 0
	for _, file := range files {
		sc, err := scenarios.Load(file)
		if err != nil {
			continue // an experiment's own description, not a scenario
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			p, err := Build(sc)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, d := range p.Devices {
				var want []Message
				if d.Fleet.Replay != nil {
					want = eagerReplay(d, replaySourceOf(d.Fleet.Replay, d.gen.local), d.gen.perMetric, p.End)
				} else {
					rng := rand.New(rand.NewPCG(uint64(sc.Seed), hash64(d.Fleet.Name, d.gen.local)))
					want = eagerDevice(d, d.gen.local, d.gen.perMetric, rng, d.gen.prof)
				}
				eagerMarkMalformed(d, want, sc.Seed)
				got := d.Messages()
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("device %s: lazy plan differs from the eager one (%d vs %d messages)", d.ID, len(got), len(want))
				}
				if d.Count() != len(want) {
					t.Fatalf("device %s: Count %d, want %d", d.ID, d.Count(), len(want))
				}
				total += len(want)
			}
			if total == 0 {
				t.Fatal("empty plan")
			}
		})
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d catalog files loaded as scenarios", checked)
	}
}
