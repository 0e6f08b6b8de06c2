// Package malformed builds the deliberately malformed payloads a fleet sends
// (scenarios' malformed kinds) and keeps the book of them: which device and seq
// each one was, and what the pipeline's dead-letter topic said about it. The
// devices write the book as they publish, the dead-letter tap as it reads; the
// run turns it into the result's malformed counts.
package malformed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/scenarios"
)

// Payload turns r, whose valid encoding in the fleet's codec c is valid, into
// a malformed payload of the given kind.
func Payload(kind string, c codec.Codec, r codec.Reading, valid []byte) ([]byte, error) {
	switch kind {
	case scenarios.MalformedTruncated:
		return bytes.Clone(valid[:len(valid)/2]), nil
	case scenarios.MalformedWrongSchema:
		return wrongSchema(c.Name(), r), nil
	case scenarios.MalformedWrongCodec:
		other := codec.JSON()
		if c.Name() == scenarios.CodecJSON {
			other = codec.Protobuf()
		}
		return other.Encode(r)
	case scenarios.MalformedOversize:
		// Whitespace after the reading: still the same reading to a lenient
		// parser, so only the size limit can refuse it.
		pad := codec.MaxPayload + 1024 - len(valid)
		return append(bytes.Clone(valid), bytes.Repeat([]byte{' '}, max(pad, 1))...), nil
	}
	return nil, fmt.Errorf("malformed: unknown kind %q", kind)
}

// wrongSchema is well-formed in the codec but not a reading: the envelope's
// fields under other names (json), with other wire types (protobuf), or in
// another order and count (text).
func wrongSchema(codecName string, r codec.Reading) []byte {
	switch codecName {
	case scenarios.CodecProtobuf:
		var b []byte
		b = protowire.AppendTag(b, 1, protowire.VarintType) // device_id is a string field
		b = protowire.AppendVarint(b, r.Seq)
		b = protowire.AppendTag(b, 2, protowire.BytesType) // seq is a varint field
		b = protowire.AppendString(b, r.DeviceID)
		return b
	case scenarios.CodecText:
		return []byte(r.DeviceID + "\t" + strconv.FormatUint(r.Seq, 10) + "\t" + strconv.FormatInt(r.SampleTimeNs, 10))
	}
	b, _ := json.Marshal(map[string]any{"sensor": r.DeviceID, "n": r.Seq, "timestamp": r.SampleTimeNs, "values": r.Metrics})
	return b
}

// Book records every malformed message sent and every dead letter seen. It is
// safe for concurrent use.
type Book struct {
	mu    sync.Mutex
	sent  map[uint64]entry // by payload hash
	kinds map[string]*Count
	// Unmatched are dead letters that are none of this run's malformed
	// messages, by reason: a valid reading the pipeline refused, or another producer's.
	unmatched map[string]int64
}

type entry struct {
	dev   int
	seq   uint64
	kind  string
	found bool
}

// Count is one kind's figures.
type Count struct {
	Injected     int64
	DeadLettered int64
	// Duplicates are dead letters of a message already dead-lettered (a redelivery).
	Duplicates int64
	Reasons    map[string]int64
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{sent: map[uint64]entry{}, kinds: map[string]*Count{}, unmatched: map[string]int64{}}
}

func hash(payload []byte) uint64 {
	h := fnv.New64a()
	h.Write(payload)
	return h.Sum64()
}

func (b *Book) count(kind string) *Count {
	c, ok := b.kinds[kind]
	if !ok {
		c = &Count{Reasons: map[string]int64{}}
		b.kinds[kind] = c
	}
	return c
}

// Sent records that device dev sent its message seq as payload, malformed of kind.
func (b *Book) Sent(dev int, seq uint64, kind string, payload []byte) {
	h := hash(payload)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent[h] = entry{dev: dev, seq: seq, kind: kind}
	b.count(kind).Injected++
}

// DeadLettered records a dead letter: its payload and the reason the pipeline
// gave. It reports whether the payload was one of this run's malformed messages.
func (b *Book) DeadLettered(payload []byte, reason string) bool {
	h := hash(payload)
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.sent[h]
	if !ok {
		b.unmatched[reason]++
		return false
	}
	c := b.count(e.kind)
	if e.found {
		c.Duplicates++
		return true
	}
	e.found = true
	b.sent[h] = e
	c.DeadLettered++
	c.Reasons[reason]++
	return true
}

// Totals is how many malformed messages were sent and dead-lettered so far.
func (b *Book) Totals() (injected, deadLettered int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.kinds {
		injected += c.Injected
		deadLettered += c.DeadLettered
	}
	return injected, deadLettered
}

// Counts returns a copy of every kind's figures and the unmatched dead letters by reason.
func (b *Book) Counts() (kinds map[string]Count, unmatched map[string]int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kinds = make(map[string]Count, len(b.kinds))
	for k, c := range b.kinds {
		cp := *c
		cp.Reasons = make(map[string]int64, len(c.Reasons))
		for r, n := range c.Reasons {
			cp.Reasons[r] = n
		}
		kinds[k] = cp
	}
	unmatched = make(map[string]int64, len(b.unmatched))
	for r, n := range b.unmatched {
		unmatched[r] = n
	}
	return kinds, unmatched
}
