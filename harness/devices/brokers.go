package devices

import (
	"github.com/citybench/citybench/harness/domains"
	"github.com/citybench/citybench/harness/schedule"
)

// brokerURL is the broker of device d's city domain: devices of one location
// share a broker, in every process of a run.
func (s *Simulator) brokerURL(d *schedule.Device) string {
	return s.broker.URLs[domains.Device(d, len(s.broker.URLs))]
}
