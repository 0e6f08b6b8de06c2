package main

import (
	"fmt"
	"io"

	"github.com/citybench/citybench/reports/result"
)

// printDownlink is the commands' table: sent, delivered to the device and
// acknowledged (the round trip), latency from each command's intended send time.
func printDownlink(w io.Writer, d *result.Downlink) {
	if d == nil {
		return
	}
	if len(d.Stages) > 0 {
		fmt.Fprintf(w, "\ndownlink: %d commands (latency from intended send; command_acked is the round trip)\n", d.Commands)
		printStages(w, d.Stages)
	}
	if d.Errors > 0 || len(d.Unknown) > 0 {
		fmt.Fprintf(w, "downlink errors %d, unknown sightings %v\n", d.Errors, d.Unknown)
	}
	if s := d.Severity; s != nil {
		fmt.Fprintf(w, "severity-mode reports on control topics: %d sent, %d seen by the harness", s.Sent, s.Seen)
		if s.Duplicated > 0 {
			fmt.Fprintf(w, ", %d duplicated", s.Duplicated)
		}
		fmt.Fprintln(w)
	}
}
