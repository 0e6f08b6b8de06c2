package plots

import "gonum.org/v1/plot"

// LogTicks exposes the log-axis ticker to tests.
func LogTicks(min, max float64) []plot.Tick { return logTicks{}.Ticks(min, max) }

// NiceTicks exposes the linear-axis ticker to tests.
func NiceTicks(min, max float64) []plot.Tick { return niceTicks{}.Ticks(min, max) }
