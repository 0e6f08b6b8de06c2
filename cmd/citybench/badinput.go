package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/citybench/citybench/reports/result"
)

// printBadInput shows what the replay fleets replayed and what the pipeline did
// with the malformed messages, per kind.
func printBadInput(w io.Writer, r *result.Result) {
	for _, rp := range r.Replays {
		fmt.Fprintf(w, "replay %s: %d sites of %s, %d of %d rows sent as %d messages; %d missing days and %d empty cells not sent (never filled in), %d empty rows, %d rows past the run's end\n",
			rp.Fleet, rp.Sites, rp.File, rp.RowsReplayed, rp.Rows, rp.Messages, rp.MissingDays, rp.EmptyCells, rp.RowsEmpty, rp.RowsBeyondRun)
	}
	mf := r.Malformed
	if mf == nil {
		return
	}
	fmt.Fprintln(w)
	if !mf.Verified {
		fmt.Fprintln(w, "malformed messages: dead letters NOT verified (the target exposes no dead-letter topic)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "malformed\tinjected\tdead-lettered\tstored\tmissing\treasons\t")
	for _, k := range append(slices.Clone(mf.Kinds), mf.Total) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", k.Kind, k.Injected, k.DeadLettered, k.Stored, k.Missing, reasons(k.Reasons))
	}
	tw.Flush()
	if len(mf.Unmatched) > 0 {
		fmt.Fprintf(w, "dead letters that were no malformed message of this run: %s\n", reasons(mf.Unmatched))
	}
}

// reasons lists reason=count in name order.
func reasons(m map[string]int64) string {
	parts := make([]string, 0, len(m))
	for _, r := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", r, m[r]))
	}
	return strings.Join(parts, " ")
}
