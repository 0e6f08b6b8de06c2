package ledger

import (
	"math/rand/v2"
	"sort"
	"time"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/scenarios"
)

// streamScenario is a small city: meters at QoS 1 on one topic per device, air
// sensors at QoS 0 with a topic per metric, and a burst fleet at QoS 2.
const streamScenario = `
name: stream
seed: 5
warmup: %s
duration: %s
fleets:
  - name: meter
    devices: 6
    model: m
    topic: city/{device}
    codec: json
    qos: 1
    sensors: [{metric: kwh, mean: 3, stddev: 1}]
    arrival: {kind: fixed, interval: %s, jitter: 20ms}
  - name: air
    devices: 4
    model: m
    topic: air/{device}/{metric}
    codec: json
    qos: 0
    sensors: [{metric: no2, mean: 40, stddev: 5}, {metric: pm10, mean: 20, stddev: 3}]
    arrival: {kind: poisson, interval: %s}
%s`

// burstFleet is added to the stream scenario by the cases without warm-up (a
// burst is measured whole).
const burstFleet = `
  - name: hall
    devices: 2
    model: m
    topic: hall/{device}
    codec: json
    qos: 2
    sensors: [{metric: t, mean: 21, stddev: 1}]
    arrival: {kind: burst, count: 40, inflight: 1, start: 1s}
`

func streamPlan(sc *scenarios.Scenario) *schedule.Plan {
	p, err := schedule.Build(sc)
	if err != nil {
		panic(err)
	}
	return p
}

// event is one observation of the synthetic run.
type event struct {
	stage Stage
	dev   int
	seq   uint64
	at    int64
}

// recorder is what replay needs of a ledger: the calls devices and taps make.
type recorder interface {
	SetIntended(dev int, seq uint64, at int64)
	Observe(stage Stage, dev int, seq uint64, at int64) bool
	Error(at int64)
}

// replay plays a seeded synthetic run into rec: sends late by up to 5 ms, some
// never sent, acks at QoS > 0, the broker, Kafka and the store with losses,
// duplicates, reordering and taps that lag the stage after them, stragglers
// far behind, and the store read back after the load, device by device. It
// uses only calls the ledger has always had, so the same run replays into the
// slot-per-message ledger that produced the golden figures.
func replay(p *schedule.Plan, rec recorder, start int64, until time.Duration) {
	rng := rand.New(rand.NewPCG(42, 7))
	ms := int64(time.Millisecond)
	var live, stored, stragglers []event
	for dev, d := range p.Devices {
		burstAt := int64(0)
		for _, m := range messagesOf(d) {
			if m.At >= until {
				break
			}
			intended := start + int64(m.At)
			if d.Fleet.Arrival.Burst() {
				burstAt = max(burstAt+3*ms, intended) // each slot frees 3 ms after the last
				intended = burstAt
				rec.SetIntended(dev, m.Seq, intended)
			}
			if rng.Float64() < 0.01 {
				rec.Error(intended)
				continue // never sent
			}
			sent := intended + rng.Int64N(5*ms)
			live = append(live, event{Sent, dev, m.Seq, sent})
			if d.Fleet.QoS > 0 && rng.Float64() > 0.01 {
				live = append(live, event{Acked, dev, m.Seq, sent + 1*ms + rng.Int64N(ms)})
			}
			broker := sent + 2*ms + rng.Int64N(3*ms)
			kafka := broker + 5*ms + rng.Int64N(20*ms)
			store := kafka + 50*ms + rng.Int64N(100*ms)
			switch r := rng.Float64(); {
			case r < 0.02: // the broker tap missed it
			case r < 0.03:
				stragglers = append(stragglers, event{Broker, dev, m.Seq, broker + int64(30*time.Second)})
			default:
				live = append(live, event{Broker, dev, m.Seq, broker})
				if rng.Float64() < 0.02 {
					live = append(live, event{Broker, dev, m.Seq, broker + 7*ms}) // duplicate
				}
			}
			switch r := rng.Float64(); {
			case r < 0.02: // lost on the way to Kafka, and so to the store
				continue
			case r < 0.05: // the Kafka tap lags the sink
				live = append(live, event{Kafka, dev, m.Seq, store + 10*ms})
			case r < 0.07: // the Kafka tap missed it; the store has it
			default:
				live = append(live, event{Kafka, dev, m.Seq, kafka})
			}
			if rng.Float64() < 0.97 {
				stored = append(stored, event{Store, dev, m.Seq, store})
			}
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].at < live[j].at })
	for _, e := range live {
		rec.Observe(e.stage, e.dev, e.seq, e.at)
	}
	for _, e := range stragglers {
		rec.Observe(e.stage, e.dev, e.seq, e.at)
	}
	// The read-back: device by device, in seq order, some rows read twice.
	sort.SliceStable(stored, func(i, j int) bool {
		if stored[i].dev != stored[j].dev {
			return stored[i].dev < stored[j].dev
		}
		return stored[i].seq < stored[j].seq
	})
	for i, e := range stored {
		rec.Observe(e.stage, e.dev, e.seq, e.at)
		if i%50 == 0 {
			rec.Observe(e.stage, e.dev, e.seq, e.at)
		}
	}
	rec.Observe(Kafka, len(p.Devices), 1, start) // a stranger
}

// streamExpect expects acks only at QoS > 0 and the API nowhere.
func streamExpect(p *schedule.Plan) func(Stage, int) bool {
	return func(s Stage, dev int) bool {
		switch s {
		case Acked:
			return p.Devices[dev].Fleet.QoS > 0
		case API:
			return false
		}
		return true
	}
}

// streamUnverified: the store could not read device 3.
func streamUnverified(s Stage, dev int, _ time.Duration) bool { return s == Store && dev == 3 }
