package harness

import (
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/metrics"
	"github.com/citybench/citybench/reports/result"
)

// liveSecond is the run's progress at the end of one second, as the monitor
// reads it: cumulative counts and the second's latency quantiles.
type liveSecond struct {
	elapsed   time.Duration
	offered   int64
	delivered [ledger.NumStages]int64
	last      [ledger.NumStages]result.Quantiles
	conns     int64
	errors    int64
}

// LiveSink receives the run's live progress once a second (the metrics
// endpoint: *metrics.Exporter).
type LiveSink interface {
	Update(metrics.Snapshot)
}

// publisher hands each second's progress, with the commands' counts, to the
// run's live sink; nil when there is none.
func (r *run) publisher() func(liveSecond) {
	sink := r.opts.Live
	if sink == nil {
		return nil
	}
	return func(ls liveSecond) {
		s := metrics.Snapshot{ElapsedS: ls.elapsed.Seconds(), PlannedS: r.plan.End.Seconds(), Offered: ls.offered, Connections: ls.conns, Errors: ls.errors}
		for st := range ledger.NumStages {
			s.Stages = append(s.Stages, metrics.Stage{Name: st.String(), Delivered: ls.delivered[st], LastSecond: ls.last[st], Sampled: st == ledger.API})
		}
		if r.dl != nil {
			p := r.dl.rec.Progress()
			s.Commands = &metrics.Commands{Planned: p.Planned, Sent: p.Sent, Delivered: p.Delivered, Acked: p.Acked, Errors: p.Errors}
		}
		sink.Update(s)
	}
}
