package taps

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/malformed"
	"github.com/citybench/citybench/pipeline/bridge"
)

// DeadLetterTapName names the dead-letter tap in outages, warnings and counters.
const DeadLetterTapName = "dead-letter"

// DeadLetter reads the pipeline's dead-letter topic the way the Kafka tap reads
// the readings topic — every partition from the end offsets before load, following
// leaders, its outages its own — and books every record's payload and reason
// (the bridge's and sink's `reason` header). It records no delivery stage: a dead
// letter of a malformed message is the pipeline doing its job, counted in the
// book, not a delivery.
type DeadLetter struct {
	k    *Kafka
	book *malformed.Book
}

// NewDeadLetter returns the dead-letter tap for cfg's brokers; cfg.Topic is the
// dead-letter topic.
func NewDeadLetter(cfg KafkaConfig, book *malformed.Book) *DeadLetter {
	return &DeadLetter{k: NewKafka(cfg), book: book}
}

// Stage is the Kafka stage, where the dead-letter topic lives; the tap records none.
func (d *DeadLetter) Stage() ledger.Stage { return ledger.Kafka }

// Start snapshots the dead-letter topic's end offsets and starts reading.
func (d *DeadLetter) Start(ctx context.Context, env Env) error {
	d.k.handle = d.record
	o := newOutages(ledger.Kafka, env.Rec.Start)
	o.tap = DeadLetterTapName
	return d.k.start(ctx, env, o)
}

func (d *DeadLetter) record(m kafka.Message) {
	reason := ""
	for _, h := range m.Headers {
		if h.Key == bridge.HeaderReason {
			reason = string(h.Value)
		}
	}
	if reason == "" {
		reason = "no reason header"
	}
	d.book.DeadLettered(m.Value, reason)
}

// Stop waits until every malformed message sent was seen dead-lettered (or ctx
// ends), then reports. Messages it never saw are in the book as sent and not
// dead-lettered; if the tap was still unavailable at the end, it says that is
// its own trouble.
func (d *DeadLetter) Stop(ctx context.Context, _ time.Duration) Report {
	waitFor(ctx, func() bool {
		injected, dead := d.book.Totals()
		return dead >= injected
	})
	rep := d.k.stop()
	rep.Unverified = nil // it verifies no delivery stage
	if len(rep.Warnings) > 0 {
		injected, dead := d.book.Totals()
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s tap: %d of %d malformed messages not seen dead-lettered while the tap was unavailable: unverified, not necessarily missing", DeadLetterTapName, injected-dead, injected))
	}
	return rep
}
