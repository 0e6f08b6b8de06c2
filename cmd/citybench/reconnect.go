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

// printReconnects is the reconnect-storm table (connect rate, connect latency,
// CONNACK failures, sessions resumed) and the MQTT 5 reason codes.
func printReconnects(w io.Writer, r *result.Result) {
	if len(r.Reconnects) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "reconnect storm\tat\tall back\tdropped\treconnected\tsession present\tattempts\tCONNACK failures\tnetwork failures\tconnect p50\tp99\tmax\tpeak/s\tmean/s\tqueued\t")
		for _, st := range r.Reconnects {
			back := "not all"
			if st.EndS > 0 {
				back = fmt.Sprintf("+%.1fs", st.EndS-st.AtS)
			}
			present := fmt.Sprintf("%d", st.SessionResumed)
			if !st.SessionKept {
				present += " (clean)"
			}
			fmt.Fprintf(tw, "%s\t%.1fs\t%s\t%d/%d\t%d\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%.0f\t%.1f\t%d\t\n", st.Fleet, st.AtS, back, st.Dropped, st.Devices,
				st.Reconnected, present, st.Attempts, countsString(st.ConnackFailures), st.NetworkFailures,
				result.FormatUs(st.ConnectLatency.P50Us), result.FormatUs(st.ConnectLatency.P99Us), result.FormatUs(st.ConnectLatency.MaxUs),
				st.ConnectRatePeak, st.ConnectRateMean, st.Queued)
		}
		tw.Flush()
	}
	for _, kind := range slices.Sorted(maps.Keys(r.MQTT5ReasonCodes)) {
		fmt.Fprintf(w, "MQTT 5 %s reason codes: %s\n", kind, countsString(r.MQTT5ReasonCodes[kind]))
	}
}

// countsString is "0x87 not authorized: 3, 0x89 server busy: 1", or "0".
func countsString(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
