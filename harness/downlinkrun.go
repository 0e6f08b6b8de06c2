package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/citybench/citybench/harness/downlink"
	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/reports/result"
)

// downlinkRun is a run's commands: the plan, the recorder the devices and the
// commander write to, and the commander once connected. Nil when no device
// listens on a control topic.
type downlinkRun struct {
	plan *downlink.Plan
	rec  *downlink.Recorder
	cmd  *downlink.Commander
	done chan struct{} // closed when the commander has sent its last command
}

func (r *run) planDownlink() {
	if len(r.sc.Commands) == 0 && !downlink.Listening(r.plan) {
		return
	}
	p := downlink.Build(r.sc, r.plan)
	r.dl = &downlinkRun{plan: p, rec: downlink.NewRecorder(p, r.led.Start)}
}

// startCommander connects the commander once the devices have subscribed, so
// no command is due before both ends listen.
func (r *run) startCommander(ctx context.Context, eps target.Endpoints) error {
	if r.dl == nil {
		return nil
	}
	c := downlink.NewCommander(downlink.Broker{URLs: eps.MQTTURLs, Username: eps.MQTTUsername, Password: eps.MQTTPassword, TLS: eps.TLS},
		r.dl.plan, r.dl.rec, r.log.With("component", "commander"))
	if err := c.Start(ctx); err != nil {
		return err
	}
	r.dl.cmd = c
	r.log.Info("commander ready", "commands", len(r.dl.plan.Commands))
	return nil
}

// sendCommands plays the commands beside the devices until the plan's end.
func (r *run) sendCommands(ctx context.Context) {
	if r.dl == nil || r.dl.cmd == nil {
		return
	}
	r.dl.done = make(chan struct{})
	go func() {
		defer close(r.dl.done)
		r.dl.cmd.Run(ctx, r.plan.End)
	}()
}

// commandsSent waits for the commander's last send.
func (r *run) commandsSent() {
	if r.dl != nil && r.dl.done != nil {
		<-r.dl.done
	}
}

// drainCommands waits, within the scenario's drain, for the acknowledgements
// of what was sent, then disconnects the commander.
func (r *run) drainCommands(ctx context.Context) {
	if r.dl == nil || r.dl.cmd == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.sc.Drain.D())
	defer cancel()
	r.dl.cmd.Drain(ctx)
	r.dl.cmd.Stop()
}

// stopCommander disconnects the commander on every way out of Run.
func (r *run) stopCommander() {
	if r.dl != nil && r.dl.cmd != nil {
		r.dl.cmd.Stop()
	}
}

// addDownlink puts the commands' accounting into res: the command stages when
// commands were planned, the severity reports when devices made any.
func (r *run) addDownlink(res *result.Result, until time.Duration) error {
	if r.dl == nil {
		return nil
	}
	dl, err := r.dl.rec.Summarise(r.plan.Warmup, until, r.sc.AvailabilityDeadline.D())
	if err != nil {
		return fmt.Errorf("downlink: %w", err)
	}
	if len(r.dl.plan.Commands) == 0 {
		if dl.Severity == nil {
			return nil
		}
		dl.Stages = nil // devices listened, but no command was planned
	}
	res.Downlink = dl
	return nil
}
