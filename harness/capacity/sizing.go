package capacity

import (
	"fmt"
	"math"
	"time"

	"github.com/citybench/citybench/pipeline/store"
	"github.com/citybench/citybench/reports/result"
)

// FleetLoad is one fleet's share of the scenario's offered load at scale 1.
type FleetLoad struct {
	Fleet    string
	Devices  int
	Rate     float64       // msgs/s the whole fleet offers
	Interval time.Duration // the scenario's reading interval
}

// City sizes every fleet at the knee: the fleets scale together in the
// scenario's proportions, so fleet i gets knee × its share of the load; at a
// reading interval I a device sends (its rate × its interval / I) msgs/s.
func City(knee float64, fleets []FleetLoad, intervals []time.Duration) []result.CityFleet {
	total := 0.0
	for _, f := range fleets {
		total += f.Rate
	}
	var out []result.CityFleet
	for _, f := range fleets {
		if f.Devices == 0 || total == 0 {
			continue
		}
		perDevice := f.Rate / float64(f.Devices)
		share := f.Rate / total
		cf := result.CityFleet{Fleet: f.Fleet, ScenarioDevices: f.Devices, MsgsPerDeviceS: perDevice, ShareOfLoad: share,
			Devices: int(math.Floor(knee * share / perDevice))}
		for _, iv := range intervals {
			if iv <= 0 || f.Interval <= 0 {
				continue
			}
			at := perDevice * f.Interval.Seconds() / iv.Seconds()
			cf.AtIntervals = append(cf.AtIntervals, result.IntervalDevices{Interval: iv.String(), Devices: int(math.Floor(knee * share / at))})
		}
		out = append(out, cf)
	}
	return out
}

// Storage sizes the store at the knee and at the scenario's own rate from what
// the store holds: bytes per reading × readings per day × replication.
func Storage(fp store.Footprint, knee, baseRate float64) (*result.Storage, error) {
	if fp.Rows <= 0 || fp.Bytes <= 0 {
		return nil, fmt.Errorf("storage sizing: the store reports %d rows in %d bytes", fp.Rows, fp.Bytes)
	}
	rf := max(fp.Replication, 1)
	bpr := float64(fp.Bytes) / float64(fp.Rows)
	day := func(rate float64) float64 { return bpr * rate * 86400 * float64(rf) }
	return &result.Storage{
		BytesPerReading: bpr, Method: fp.Method, Estimate: fp.Estimate, Rows: fp.Rows, Bytes: fp.Bytes,
		ReplicationFactor: rf, Rate: knee,
		PerDayBytes: day(knee), PerYearBytes: 365 * day(knee),
		ScenarioPerDayBytes: day(baseRate), ScenarioPerYearBytes: 365 * day(baseRate),
	}, nil
}
