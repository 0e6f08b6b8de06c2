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

// refusedSeq is refused for device log's message seq.
func (log *deviceLog) refusedSeq(s Stage, seq uint64) bool {
	return s > Acked && log.dev.MalformedAt(seq) != 0
}

// firstUnseen is the lowest seq in 1..upTo stage s has not seen and should
// expect (log locked): the window's answer, stepping past malformed messages.
func (log *deviceLog) firstUnseen(s Stage, upTo uint64) (uint64, bool) {
	seq, ok := log.win[s].firstUnseen(upTo)
	if !ok || s <= Acked || log.dev.Fleet.Malformed <= 0 {
		return seq, ok
	}
	for ; seq <= upTo; seq++ {
		if !log.win[s].has(seq) && !log.refusedSeq(s, seq) {
			return seq, true
		}
	}
	return 0, false
}

// missing is how many of seqs 1..upTo stage s has not seen and should expect (log locked).
func (log *deviceLog) missing(s Stage, upTo uint64) int {
	n := log.win[s].missing(upTo)
	if s <= Acked || log.dev.Fleet.Malformed <= 0 || n == 0 {
		return n
	}
	for seq := uint64(1); seq <= upTo; seq++ {
		if log.refusedSeq(s, seq) && !log.win[s].has(seq) {
			n--
		}
	}
	return n
}

// Forwardable is how many messages sent so far a correct pipeline passes on
// past the broker: every one sent but the malformed ones.
func (l *Ledger) Forwardable() int64 { return l.delivered[Sent].Load() - l.refused.Load() }
