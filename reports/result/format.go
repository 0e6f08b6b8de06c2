package result

import (
	"strconv"
	"strings"
	"time"
)

// Units of SLO thresholds and observations (SLOVerdict.Unit).
const (
	UnitMicroseconds = "us"
	UnitRatio        = "ratio"
	UnitMessages     = "msgs"
	UnitPerSecond    = "msgs/s"
	UnitBytes        = "bytes"
)

// FormatUs writes a time recorded in µs as people read it — 850µs, 12.3ms,
// 2.5s — and "-" for 0, which in a quantile means nothing was recorded. The
// console summary and the HTML report both use it.
func FormatUs(us int64) string {
	if us == 0 {
		return "-"
	}
	return formatDuration(float64(us))
}

func formatDuration(us float64) string {
	d := time.Duration(us * float64(time.Microsecond))
	switch {
	case d < 0:
		return "-" + formatDuration(-us)
	case d < time.Millisecond:
		return d.String()
	case d < time.Second:
		return trimZeros(float64(d)/float64(time.Millisecond), 1) + "ms"
	default:
		return trimZeros(d.Seconds(), 2) + "s"
	}
}

// trimZeros writes f with at most digits decimals and no trailing zeros: 500ms, 2.5s.
func trimZeros(f float64, digits int) string {
	s := strconv.FormatFloat(f, 'f', digits, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// FormatValue writes an SLO's observed value or threshold in its unit: times as
// durations, ratios as percentages, counts as integers, throughput per second.
// The console and the HTML report print verdicts with it, so a threshold reads
// the same in both (500ms, not "500000 us").
func FormatValue(v float64, unit string) string {
	switch unit {
	case UnitMicroseconds:
		if v == 0 {
			return "0s"
		}
		return formatDuration(v)
	case UnitRatio:
		return strconv.FormatFloat(100*v, 'g', 6, 64) + "%"
	case UnitMessages:
		return strconv.FormatFloat(v, 'f', -1, 64) + " msgs"
	case UnitPerSecond:
		return strconv.FormatFloat(v, 'f', 1, 64) + " msgs/s"
	case "":
		return strconv.FormatFloat(v, 'g', 6, 64)
	default:
		return strconv.FormatFloat(v, 'g', 6, 64) + " " + unit
	}
}
