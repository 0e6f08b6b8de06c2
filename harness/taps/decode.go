// Package taps observe the pipeline from outside at each stage — a broker
// subscriber, a Kafka reader, a store read-back and an API poller — and record
// into the ledger when each planned message appears there.
package taps

import (
	"fmt"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/pipeline/codec"
)

// envelopes finds the device and sequence number of payloads seen at a stage.
type envelopes struct {
	ledger  *ledger.Ledger
	byTopic map[string]int         // topic → device index
	codecs  map[string]codec.Codec // fleet name → codec
}

func newEnvelopes(l *ledger.Ledger) (*envelopes, error) {
	e := &envelopes{ledger: l, byTopic: map[string]int{}, codecs: map[string]codec.Codec{}}
	for _, d := range l.Plan().Devices {
		for _, t := range d.Topics() {
			e.byTopic[t] = d.Index
		}
		if _, ok := e.codecs[d.Fleet.Name]; !ok {
			c, err := codec.ByName(d.Fleet.Codec)
			if err != nil {
				return nil, fmt.Errorf("fleet %s: %w", d.Fleet.Name, err)
			}
			e.codecs[d.Fleet.Name] = c
		}
	}
	return e, nil
}

// find returns the device index and seq of a payload that travelled on topic
// (deviceHint, when not empty, is the device id the carrier already knows, such as
// a Kafka key). ok is false for payloads that are not this run's.
func (e *envelopes) find(topic, deviceHint string, payload []byte) (dev int, seq uint64, ok bool) {
	dev, ok = e.byTopic[topic]
	if !ok && deviceHint != "" {
		dev, ok = e.ledger.DeviceIndex(deviceHint)
	}
	if !ok {
		return 0, 0, false
	}
	d := e.ledger.Plan().Devices[dev]
	r, err := e.codecs[d.Fleet.Name].Decode(topic, payload)
	if err != nil || r.DeviceID != d.ID {
		return 0, 0, false
	}
	return dev, r.Seq, true
}
