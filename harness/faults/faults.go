// Package faults turns a scenario's faults: block into timed harness faults for
// the chosen target: it refuses, before anything starts, what the target cannot
// perform (naming file, line and field), and binds each fault to the target's
// own way of performing it. Performing is the target's job (the containers
// target through the Docker API and Toxiproxy, the embedded one through the
// pipeline's fault controls); timing and recording are the harness's.
package faults

import (
	"context"
	"fmt"
	"sync"

	"github.com/citybench/citybench/harness"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/scenarios"
)

// Check returns scenarios.ValidationErrors for every fault of sc that t cannot
// perform, or nil.
func Check(sc *scenarios.Scenario, t target.Target) error {
	if len(sc.Faults) == 0 {
		return nil
	}
	var errs scenarios.ValidationErrors
	inj, ok := t.(target.FaultInjector)
	for i, f := range sc.Faults {
		if !ok {
			errs = append(errs, sc.FaultError(i, "action", "the %s target performs no faults", t.Describe().Kind))
			continue
		}
		if err := inj.CheckFault(f); err != nil {
			errs = append(errs, sc.FaultError(i, "action", "the %s target cannot %s %s: %v", t.Describe().Kind, f.Action, f.Target, err))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Build checks sc's faults against t and returns them as harness faults.
func Build(sc *scenarios.Scenario, t target.Target) ([]harness.Fault, error) {
	if err := Check(sc, t); err != nil {
		return nil, err
	}
	inj, _ := t.(target.FaultInjector)
	out := make([]harness.Fault, 0, len(sc.Faults))
	for _, f := range sc.Faults {
		out = append(out, bind(inj, f))
	}
	return out, nil
}

// bind makes one harness fault whose Prepare resolves the action that Do and
// Heal then perform.
func bind(inj target.FaultInjector, f scenarios.Fault) harness.Fault {
	var mu sync.Mutex
	var act target.FaultAction
	prepared := func() target.FaultAction {
		mu.Lock()
		defer mu.Unlock()
		return act
	}
	hf := harness.Fault{
		At:       f.At.D(),
		Duration: f.Duration.D(),
		Kind:     f.Action,
		Target:   f.Target,
		Detail:   Describe(f),
		Prepare: func(ctx context.Context) (string, error) {
			a, err := inj.PrepareFault(ctx, f)
			if err != nil {
				return "", err
			}
			mu.Lock()
			act = a
			mu.Unlock()
			return a.Component, nil
		},
		Do: func(ctx context.Context) error { return prepared().Act(ctx) },
	}
	hf.Heal = func(ctx context.Context) error {
		if h := prepared().Heal; h != nil {
			return h(ctx)
		}
		return nil
	}
	return hf
}

// Describe is a fault in words, for the result and the report.
func Describe(f scenarios.Fault) string {
	s := f.Action + " " + f.Target
	if f.Target == "kafka-leader" {
		s += fmt.Sprintf(" of partition %d", f.Partition)
	}
	if f.Peer != "" {
		s += " ↔ " + f.Peer
	}
	switch f.Action {
	case scenarios.ActionLatency:
		s += fmt.Sprintf(" +%s ± %s", f.Latency.D(), f.Jitter.D())
	case scenarios.ActionBandwidth:
		s += fmt.Sprintf(" at %d KB/s", f.RateKBps)
	}
	if f.Duration > 0 {
		s += fmt.Sprintf(" for %s", f.Duration.D())
	}
	return s
}
