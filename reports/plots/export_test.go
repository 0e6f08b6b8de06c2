package plots

import "gonum.org/v1/plot"

// LogTicks exposes the log-axis ticker to tests.
func LogTicks(min, max float64) []plot.Tick { return logTicks{}.Ticks(min, max) }
