package taps

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/citybench/citybench/harness/ledger"
)

// Brokers is the broker stage of a tier of several brokers: one Broker tap per
// broker, started and stopped together and reported as one. A device publishes
// to its own domain's broker only, so each device is still observed by one tap's
// handler (the recorder's one-goroutine rule holds), and an outage of one
// broker's tap leaves only that broker's devices unverified.
type Brokers struct {
	taps []*Broker
	// domain is the broker (an index into taps) device dev publishes to.
	domain func(dev int) int
}

// NewBrokers returns the broker stage's tap for brokers cfgs; domain says which
// of them device dev (the plan's index) publishes to. One broker gets the plain
// Broker tap.
func NewBrokers(cfgs []BrokerConfig, domain func(dev int) int) Tap {
	if len(cfgs) == 1 {
		return NewBroker(cfgs[0])
	}
	b := &Brokers{domain: domain}
	for _, c := range cfgs {
		b.taps = append(b.taps, NewBroker(c))
	}
	return b
}

// Stage is the broker stage.
func (b *Brokers) Stage() ledger.Stage { return ledger.Broker }

// Start connects every broker's tap; if one fails, those started are stopped.
func (b *Brokers) Start(ctx context.Context, env Env) error {
	for i, t := range b.taps {
		if err := t.Start(ctx, env); err != nil {
			done, cancel := context.WithCancel(context.WithoutCancel(ctx))
			cancel()
			for _, started := range b.taps[:i] {
				started.Stop(done, 0)
			}
			return fmt.Errorf("broker %d of %d: %w", i+1, len(b.taps), err)
		}
	}
	return nil
}

// Stop stops every broker's tap at once (each waits for the whole stage to catch
// up, so none stops while another broker still delivers) and reports them as one.
func (b *Brokers) Stop(ctx context.Context, until time.Duration) Report {
	reps := make([]Report, len(b.taps))
	var wg sync.WaitGroup
	for i, t := range b.taps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i] = t.Stop(ctx, until)
		}()
	}
	wg.Wait()
	out := Report{Stage: ledger.Broker}
	anyUnverified := false
	for _, r := range reps {
		out.Outages = append(out.Outages, r.Outages...)
		out.Warnings = append(out.Warnings, r.Warnings...)
		if len(r.Counters) > 0 && out.Counters == nil {
			out.Counters = map[string]int64{}
		}
		for k, v := range maps.All(r.Counters) {
			out.Counters[k] += v
		}
		anyUnverified = anyUnverified || r.Unverified != nil
	}
	sort.Slice(out.Outages, func(i, j int) bool { return out.Outages[i].FromS < out.Outages[j].FromS })
	if anyUnverified {
		out.Unverified = func(dev int, at time.Duration) bool {
			u := reps[b.domain(dev)].Unverified
			return u != nil && u(dev, at)
		}
	}
	return out
}
