package harness

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/reports/result"
)

// Fault is an action on the system under test at a planned offset, held for
// Duration and then healed; it is recorded in the result. harness/faults builds
// them from a scenario's faults: block.
type Fault struct {
	At time.Duration
	// Duration is how long the fault holds before Heal runs (0: Do heals by itself).
	Duration time.Duration
	Kind     string
	Target   string
	Detail   string
	// Prepare, when set, runs PrepareLead before At — to resolve, say, which broker
	// leads a partition — and returns the component acted on, for the record.
	Prepare func(ctx context.Context) (component string, err error)
	Do      func(ctx context.Context) error
	// Heal undoes Do; it runs even when the run is interrupted, so no frozen or
	// stopped component outlives the run.
	Heal func(ctx context.Context) error
}

// seriesUntil is how far the interval series runs: through the drain when the
// run had faults (their recovery may come after load ended), else to load's end.
func seriesUntil(faults bool, now time.Duration) time.Duration {
	if !faults {
		return 0
	}
	return now
}

// PrepareLead is how long before its start a fault's target is resolved.
const PrepareLead = 3 * time.Second

// healTimeout bounds a heal that hangs (an engine that does not answer).
const healTimeout = 2 * time.Minute

// runFaults plays faults on l's time line. stop cancels faults not yet started
// and waits for started ones to heal; events returns what happened, in order.
func runFaults(ctx context.Context, l *ledger.Ledger, faults []Fault, log *slog.Logger) (events func() []result.FaultEvent, stop func()) {
	var mu sync.Mutex
	var out []result.FaultEvent
	fctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, f := range faults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, ok := playFault(ctx, fctx, l.Start(), f, log)
			if !ok {
				return
			}
			mu.Lock()
			out = append(out, ev)
			mu.Unlock()
		}()
	}
	return func() []result.FaultEvent {
			mu.Lock()
			defer mu.Unlock()
			sort.Slice(out, func(i, j int) bool { return out[i].AtS < out[j].AtS })
			return append([]result.FaultEvent(nil), out...)
		}, func() {
			cancel()
			wg.Wait()
		}
}

// playFault waits for f's moment, acts, holds and heals. ok is false when the
// run ended before f started. Once started, only the run's own context (not
// stop) shortens the hold.
func playFault(ctx, startCtx context.Context, origin time.Time, f Fault, log *slog.Logger) (ev result.FaultEvent, ok bool) {
	sleepUntil := func(c context.Context, t time.Time) bool {
		select {
		case <-time.After(time.Until(t)):
			return true
		case <-c.Done():
			return false
		}
	}
	ev = result.FaultEvent{Kind: f.Kind, Target: f.Target, Detail: f.Detail, Component: f.Target}
	if f.Prepare != nil {
		if !sleepUntil(startCtx, origin.Add(f.At-PrepareLead)) {
			return ev, false
		}
		comp, err := f.Prepare(startCtx)
		if err != nil {
			ev.AtS = time.Since(origin).Seconds()
			ev.EndS = ev.AtS
			ev.Error = "prepare: " + err.Error()
			log.Error("fault not performed", "kind", f.Kind, "target", f.Target, "err", err)
			return ev, true
		}
		ev.Component = comp
	}
	if !sleepUntil(startCtx, origin.Add(f.At)) {
		return ev, false
	}
	at := time.Now()
	ev.AtS = at.Sub(origin).Seconds()
	err := f.Do(startCtx)
	ev.ActedS = time.Since(origin).Seconds()
	if err != nil {
		ev.Error = err.Error()
		log.Error("fault", "kind", f.Kind, "target", ev.Component, "err", err)
	}
	log.Info("fault", "kind", f.Kind, "target", ev.Component, "at", time.Duration(ev.AtS*float64(time.Second)).Round(time.Millisecond))
	if f.Heal != nil && err == nil {
		sleepUntil(ctx, at.Add(f.Duration))
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healTimeout)
		herr := f.Heal(hctx)
		cancel()
		if herr != nil {
			ev.Error = "heal: " + herr.Error()
			log.Error("fault heal", "kind", f.Kind, "target", ev.Component, "err", herr)
		}
		log.Info("fault healed", "kind", f.Kind, "target", ev.Component)
	}
	ev.EndS = time.Since(origin).Seconds()
	return ev, true
}
