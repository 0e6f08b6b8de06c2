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
	// Running latency totals per stage, for the summaries' _count and _sum; the
	// monitor calls one second at a time, so they need no lock.
	partial := [ledger.NumStages]bool{ledger.API: true}
	for _, f := range r.sc.Fleets {
		partial[ledger.Acked] = partial[ledger.Acked] || f.QoS == 0 // QoS 0 is never acknowledged
	}
	var count [ledger.NumStages]int64
	var sumS [ledger.NumStages]float64
	return func(ls liveSecond) {
		s := metrics.Snapshot{ElapsedS: ls.elapsed.Seconds(), PlannedS: r.plan.End.Seconds(), Offered: ls.offered, Connections: ls.conns, Errors: ls.errors}
		for st := range ledger.NumStages {
			q := ls.last[st]
			count[st] += q.Count
			sumS[st] += q.MeanUs * float64(q.Count) / 1e6
			s.Stages = append(s.Stages, metrics.Stage{Name: st.String(), Delivered: ls.delivered[st], LastSecond: q, Partial: partial[st],
				LatencyCount: count[st], LatencySumS: sumS[st]})
		}
		if r.dl != nil {
			p := r.dl.rec.Progress()
			s.Commands = &metrics.Commands{Planned: p.Planned, Sent: p.Sent, Delivered: p.Delivered, Acked: p.Acked, Errors: p.Errors}
		}
		sink.Update(s)
	}
}
