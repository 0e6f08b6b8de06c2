package testcontainers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/citybench/citybench/harness/target"
)

var _ target.Staller = (*Target)(nil)

// container finds a running part by alias (mqtt, kafka-2, cassandra-1, sink-1, ...).
func (t *Target) container(name string) (*managed, *client.Client, error) {
	t.mu.Lock()
	dc := t.docker
	t.mu.Unlock()
	if dc == nil {
		return nil, nil, errors.New("target not started")
	}
	var names []string
	for _, m := range t.snapshot() {
		if m.name == name {
			return m, dc, nil
		}
		names = append(names, m.name)
	}
	return nil, nil, fmt.Errorf("no container %q (have %s)", name, strings.Join(names, ", "))
}

// Pause freezes a container's processes for d (the cgroup freezer: the process
// keeps its sockets but answers nothing — a hung node, not a dead one), then thaws
// it. It returns when the container runs again, even if ctx ends first.
func (t *Target) Pause(ctx context.Context, name string, d time.Duration) error {
	m, dc, err := t.container(name)
	if err != nil {
		return err
	}
	id := m.c.GetContainerID()
	if _, err := dc.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s: %w", name, err)
	}
	t.cfg.log.Info("fault: paused", "container", name, "for", d)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	// A frozen node left behind would poison every later measurement, so the thaw
	// does not depend on the caller's context.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := dc.ContainerUnpause(uctx, id, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpause %s: %w", name, err)
	}
	t.cfg.log.Info("fault: resumed", "container", name)
	return ctx.Err()
}

// StopContainer stops a container (SIGTERM, then SIGKILL after grace): a node that
// crashes or is taken down.
func (t *Target) StopContainer(ctx context.Context, name string, grace time.Duration) error {
	m, _, err := t.container(name)
	if err != nil {
		return err
	}
	if err := m.c.Stop(ctx, &grace); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	t.cfg.log.Info("fault: stopped", "container", name)
	return nil
}

// StartContainer starts a container StopContainer stopped; it keeps its name,
// network alias and data, like a restarted node.
func (t *Target) StartContainer(ctx context.Context, name string) error {
	m, _, err := t.container(name)
	if err != nil {
		return err
	}
	if err := m.c.Start(ctx); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	t.cfg.log.Info("fault: started", "container", name)
	return nil
}

// StallStore pauses every Cassandra node for d: writes and reads block, which is
// the stall coordinated-omission tests need. The nodes are thawed even when ctx
// ends first.
func (t *Target) StallStore(ctx context.Context, d time.Duration) error {
	if err := t.pauseStore(ctx); err != nil {
		return errors.Join(fmt.Errorf("stall store: %w", err), t.unpauseStore(context.WithoutCancel(ctx)))
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return t.unpauseStore(uctx)
}
