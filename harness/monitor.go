package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/devices"
	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/reports/result"
)

// monitor samples open connections each second (a series in the result) and
// prints the live progress line.
type monitor struct {
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []int64
}

// publish, when not nil, receives each second's live view (for the metrics endpoint).
func startMonitor(l *ledger.Ledger, sim *devices.Simulator, plan *schedule.Plan, out io.Writer, asJSON bool, publish func(liveSecond)) *monitor {
	m := &monitor{done: make(chan struct{})}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		// Wait for offset 0, then tick on whole seconds of the run.
		select {
		case <-time.After(time.Until(l.Start())):
		case <-m.done:
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev [ledger.NumStages]int64
		offeredSoFar := offeredCounter(plan)
		closedLoop := plan.ClosedLoop()
		prevOffered := 0
		for {
			select {
			case <-m.done:
				return
			case <-t.C:
			}
			m.mu.Lock()
			m.conns = append(m.conns, sim.Connections())
			m.mu.Unlock()
			if out == nil && publish == nil {
				continue
			}
			elapsed := time.Since(l.Start())
			offered := offeredSoFar(elapsed)
			var cur [ledger.NumStages]int64
			var last [ledger.NumStages]result.Quantiles
			for s := range ledger.NumStages {
				cur[s], last[s] = l.Delivered(s), l.TakeLive(s)
			}
			if closedLoop {
				// A burst's messages become due as slots free: what was offered is what went out.
				offered = int(cur[ledger.Sent])
			}
			if publish != nil {
				publish(liveSecond{elapsed: elapsed, offered: int64(offered), delivered: cur, last: last, conns: sim.Connections(), errors: l.Errors()})
			}
			if out == nil {
				continue
			}
			if asJSON {
				writeProgress(out, Progress{ElapsedS: elapsed.Seconds(), Offered: int64(offered), Sent: cur[ledger.Sent], Acked: cur[ledger.Acked],
					Kafka: cur[ledger.Kafka], Connections: sim.Connections(), Errors: l.Errors()})
				continue
			}
			p99s := "-"
			if k := last[ledger.Kafka]; k.Count > 0 {
				p99s = (time.Duration(k.P99Us) * time.Microsecond).Round(100 * time.Microsecond).String()
			}
			fmt.Fprintf(out, "[%5s/%s] offered %5d/s  sent %5d/s  acked %5d/s  kafka %5d/s  kafka p99 %-8s  conns %d  errors %d\n",
				elapsed.Round(time.Second), plan.End, offered-prevOffered, cur[ledger.Sent]-prev[ledger.Sent],
				cur[ledger.Acked]-prev[ledger.Acked], cur[ledger.Kafka]-prev[ledger.Kafka], p99s, sim.Connections(), l.Errors())
			prev, prevOffered = cur, offered
		}
	}()
	return m
}

// stop ends sampling and returns the connection series.
func (m *monitor) stop() []int64 {
	close(m.done)
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conns
}

// offeredCounter returns a function giving how many messages were due by an
// offset; offsets must not decrease between calls. It walks each device's plan
// as time passes, holding one cursor per device, never the plan's messages.
func offeredCounter(plan *schedule.Plan) func(time.Duration) int {
	type walk struct {
		c    *schedule.Cursor
		next schedule.Message
		ok   bool
	}
	walks := make([]walk, len(plan.Devices))
	for i, d := range plan.Devices {
		walks[i].c = d.Cursor()
		walks[i].next, walks[i].ok = walks[i].c.Next()
	}
	n := 0
	return func(t time.Duration) int {
		for i := range walks {
			w := &walks[i]
			for w.ok && w.next.At <= t {
				n++
				w.next, w.ok = w.c.Next()
			}
		}
		return n
	}
}

// Progress is one second of a run's live progress as cumulative counts: what a
// worker process tells its coordinator, which adds the workers' lines up.
type Progress struct {
	ElapsedS    float64 `json:"elapsed_s"`
	Offered     int64   `json:"offered"`
	Sent        int64   `json:"sent"`
	Acked       int64   `json:"acked"`
	Kafka       int64   `json:"kafka"`
	Connections int64   `json:"conns"`
	Errors      int64   `json:"errors"`
}

// Add sums two workers' progress.
func (p Progress) Add(o Progress) Progress {
	return Progress{ElapsedS: max(p.ElapsedS, o.ElapsedS), Offered: p.Offered + o.Offered, Sent: p.Sent + o.Sent, Acked: p.Acked + o.Acked,
		Kafka: p.Kafka + o.Kafka, Connections: p.Connections + o.Connections, Errors: p.Errors + o.Errors}
}

func writeProgress(w io.Writer, p Progress) {
	b, _ := json.Marshal(p) // plain numbers: cannot fail
	fmt.Fprintf(w, "%s\n", b)
}
