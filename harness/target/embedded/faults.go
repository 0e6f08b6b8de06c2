package embedded

import (
	"context"
	"errors"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/scenarios"
)

var _ target.FaultInjector = (*Target)(nil)

// embeddedFaults is what the in-process pipeline can do to itself.
const embeddedFaults = "it can stall the store and stop bridge-1 or sink-1 (with one replica); run process and network faults on --target containers"

// CheckFault accepts the faults the embedded pipeline's controls perform and
// refuses the rest by name.
func (t *Target) CheckFault(f scenarios.Fault) error {
	ft, err := scenarios.ParseFaultTarget(f.Target)
	if err != nil {
		return err
	}
	switch {
	case f.Action == scenarios.ActionStall:
		return nil
	case f.Action == scenarios.ActionStop && ft.Kind == scenarios.CompBridge && t.bridges == 1,
		f.Action == scenarios.ActionStop && ft.Kind == scenarios.CompSink && t.sinks == 1:
		return nil
	}
	return errors.New(embeddedFaults)
}

// PrepareFault returns the pipeline control that performs f.
func (t *Target) PrepareFault(_ context.Context, f scenarios.Fault) (target.FaultAction, error) {
	if err := t.CheckFault(f); err != nil {
		return target.FaultAction{}, err
	}
	if t.p == nil {
		return target.FaultAction{}, errors.New("embedded target not started")
	}
	p := t.p
	switch {
	case f.Action == scenarios.ActionStall:
		return target.FaultAction{
			Component: "store",
			Act:       func(context.Context) error { p.Store.Stall(f.Duration.D()); return nil },
			// The stall lifts by itself; the no-op heal keeps the window its full length.
			Heal: func(context.Context) error { return nil },
		}, nil
	case f.Target == "bridge-1":
		return target.FaultAction{Component: f.Target, Act: p.StopBridges, Heal: p.StartBridges}, nil
	default:
		return target.FaultAction{Component: f.Target, Act: p.StopSinks, Heal: p.StartSinks}, nil
	}
}
