package harness

import (
	"fmt"

	"github.com/citybench/citybench/harness/ledger"
	"github.com/citybench/citybench/reports/result"
)

// addBeyondWindow says on res how many first sightings came after their
// message had left its device's in-flight window (see ledger's inFlightWindow):
// they are counted exactly, but those without a send time left give the stage
// no service time, so its service-time figure covers fewer messages than its latency.
func addBeyondWindow(res *result.Result, led *ledger.Ledger) {
	for s := range ledger.NumStages {
		n, noService := led.BeyondWindow(s)
		if n == 0 {
			continue
		}
		res.Counters["beyond_window_"+s.String()] = n
		if noService > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %d sightings came after their message had left the in-flight window; "+
				"they count for delivery and latency, but %d have no service time (their send time was no longer kept)", s, n, noService))
		}
	}
}
