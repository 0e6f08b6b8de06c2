package taps

import (
	"fmt"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/pipeline/codec"
)

// envelopes finds the device and sequence number of payloads seen at a stage.
// Several devices may share a topic (the blog's layout names a street, not a
// device), so the topic only selects the codec; identity comes from the envelope.
type envelopes struct {
	plan    *schedule.Plan
	byID    map[string]int         // device id → index
	byTopic map[string]codec.Codec // topic → codec of the fleet publishing there
	byFleet map[string]codec.Codec
}

func newEnvelopes(plan *schedule.Plan) (*envelopes, error) {
	e := &envelopes{plan: plan, byID: make(map[string]int, len(plan.Devices)), byTopic: map[string]codec.Codec{}, byFleet: map[string]codec.Codec{}}
	for _, d := range plan.Devices {
		e.byID[d.ID] = d.Index
		c, ok := e.byFleet[d.Fleet.Name]
		if !ok {
			var err error
			if c, err = codec.ByName(d.Fleet.Codec); err != nil {
				return nil, fmt.Errorf("fleet %s: %w", d.Fleet.Name, err)
			}
			e.byFleet[d.Fleet.Name] = c
		}
		for _, t := range d.Topics() {
			e.byTopic[t] = c
		}
	}
	return e, nil
}

// find returns the device index and seq of a payload that travelled on topic
// (deviceHint, when not empty, is the device id the carrier already knows, such as
// a Kafka key). ok is false for payloads that are not this run's.
func (e *envelopes) find(topic, deviceHint string, payload []byte) (dev int, seq uint64, ok bool) {
	c, ok := e.byTopic[topic]
	if !ok && deviceHint != "" {
		if dev, known := e.byID[deviceHint]; known {
			c, ok = e.byFleet[e.plan.Devices[dev].Fleet.Name], true
		}
	}
	if !ok {
		return 0, 0, false
	}
	// The envelope alone identifies a message; judging the reading is the pipeline's job.
	id, seq, err := codec.Envelope(c, topic, payload)
	if err != nil {
		return 0, 0, false
	}
	if dev, ok = e.byID[id]; !ok {
		return 0, 0, false
	}
	// A message the plan made malformed is one the pipeline must refuse, so no
	// stage past the acknowledgement expects it (see ledger): even when its
	// envelope reads, it is not this stage's to count.
	if d := e.plan.Devices[dev]; seq >= 1 && d.MalformedAt(seq) != 0 && seq <= uint64(d.Count()) { // Count walks the plan once: only asked when the hash marks seq
		return 0, 0, false
	}
	return dev, seq, true
}
