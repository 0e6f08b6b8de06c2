package ledger

import "github.com/citybench/citybench/harness/schedule"

// Malformed messages (schedule.Message.Malformed) are sent and acknowledged like
// any other, but a correct pipeline refuses them: the broker passes them on
// undecodable, and the bridge dead-letters them before Kafka. So no stage past
// the acknowledgement expects them — they are not the pipeline's loss — and the
// progress the store read-back and the API poller wait on skips them. Whether any
// was stored after all is read with Seen(Store, …) and reported on its own.

// refused reports whether stage s should not expect message m.
func refused(s Stage, m *schedule.Message) bool {
	return s > Acked && m.IsMalformed()
}

// expectRefusals marks the malformed messages as settled in the progress windows
// of the stages past the acknowledgement, so a tap waiting for its stage to
// catch up does not wait for them.
func (l *Ledger) expectRefusals() {
	for dev, d := range l.plan.Devices {
		for _, m := range d.Messages {
			if m.Malformed == 0 {
				continue
			}
			for s := Broker; s < NumStages; s++ {
				if w := l.logs[dev].window[s]; w != nil {
					w.observe(m.Seq)
				}
			}
		}
	}
}

// Forwardable is how many messages sent so far a correct pipeline passes on
// past the broker: every one sent but the malformed ones.
func (l *Ledger) Forwardable() int64 { return l.delivered[Sent].Load() - l.refused.Load() }
