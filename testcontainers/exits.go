package testcontainers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// logTailLines is how much of a dead container's log an error quotes: enough for a
// Java stack trace's cause or a tool's usage message, short enough for a terminal.
const logTailLines = 20

// ExitedError says that a container stopped while the target was starting: which
// one, how, and the last lines it wrote. Waiting any longer could not help.
type ExitedError struct {
	Name      string // network alias, e.g. kafka-2
	Component string // e.g. kafka
	ExitCode  int
	// After is how long into the start the exit was seen.
	After   time.Duration
	LogTail []string
}

func (e *ExitedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) exited with code %d, %s into the start", e.Name, e.Component, e.ExitCode, e.After.Round(100*time.Millisecond))
	if len(e.LogTail) == 0 {
		b.WriteString("; its log is empty")
		return b.String()
	}
	fmt.Fprintf(&b, "; last %d lines of its log:", len(e.LogTail))
	for _, l := range e.LogTail {
		b.WriteString("\n    ")
		b.WriteString(l)
	}
	return b.String()
}

// exitFrom reads a "die" event of run runID: the container's alias (its name
// without the run's prefix), component label and exit code.
func exitFrom(m events.Message, runID string) *ExitedError {
	a := m.Actor.Attributes
	code, err := strconv.Atoi(a["exitCode"])
	if err != nil {
		code = -1 // the engine did not say; -1 is no exit code a process can have
	}
	return &ExitedError{
		Name:      strings.TrimPrefix(a["name"], containerPrefix(runID)),
		Component: a[LabelComponent],
		ExitCode:  code,
	}
}

// containerPrefix is what every container name of run runID starts with.
func containerPrefix(runID string) string { return "citybench-" + runID + "-" }

// lastLines returns the final n non-empty lines of a log.
func lastLines(log []byte, n int) []string {
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(string(log), "\r\n", "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines[max(0, len(lines)-n):]
}

// watchExits cancels a start with an *ExitedError as soon as any container of this
// run dies. The subscription is open when it returns, so a container that dies the
// moment it is created is still seen. stop ends the watch and waits for it; call it
// before the start's own teardown, whose removals are deaths too.
func (t *Target) watchExits(ctx context.Context, dc *client.Client, began time.Time, cancel context.CancelCauseFunc) (stop func()) {
	wctx, wcancel := context.WithCancel(ctx)
	filters := client.Filters{}.
		Add("type", string(events.ContainerEventType)).
		Add("event", string(events.ActionDie)).
		Add("label", LabelRun+"="+t.runID)
	stream := dc.Events(wctx, client.EventsListOptions{Filters: filters})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case m := <-stream.Messages:
			ex := exitFrom(m, t.runID)
			ex.After = time.Since(began)
			t.cfg.log.Warn("container exited during start; stopping the start", "container", ex.Name, "exit_code", ex.ExitCode, "after", ex.After.Round(time.Millisecond))
			ex.LogTail = logTail(wctx, dc, m.Actor.ID, t.cfg.log)
			cancel(ex)
		case err := <-stream.Err:
			if wctx.Err() == nil {
				// Start still works, it just learns of a dead container at its deadline.
				t.cfg.log.Warn("container exit watch ended; a container that dies during start is noticed only at the start timeout", "err", err)
			}
		case <-wctx.Done():
		}
	}()
	return func() { wcancel(); <-done }
}

// logTail fetches the last lines of a container's log (stdout and stderr together).
func logTail(ctx context.Context, dc *client.Client, id string, log *slog.Logger) []string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rc, err := dc.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(logTailLines)})
	if err != nil {
		log.Warn("log of exited container unavailable", "container", id, "err", err)
		return []string{fmt.Sprintf("(log unavailable: %v)", err)}
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		log.Warn("log of exited container cut short", "container", id, "err", err)
	}
	return lastLines(buf.Bytes(), logTailLines)
}
