// Package domains says which city domain — which of a run's MQTT brokers — a
// device belongs to. A city with several districts runs a broker per district
// and configures each device with its district's broker; citybench does the
// same by the device's location, so every device of one location shares one
// broker, in every process and segment of a run.
package domains

import (
	"hash/fnv"
	"sort"
	"strings"

	"github.com/citybench/citybench/harness/schedule"
)

// Key is a device's location key: its fleet topic's location placeholders and
// their values, by placeholder name, e.g. "group=g3/street=bagdat" for
// hypo_city/{city}/{street}/{group}/{metric} with one city (every placeholder
// counts, one-valued ones too). A device whose topic names no location has its
// id as key: such devices spread one by one.
func Key(d *schedule.Device) string {
	names := make([]string, 0, len(d.Location))
	for name := range d.Location {
		if strings.Contains(d.Fleet.Topic, "{"+name+"}") {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return d.ID
	}
	sort.Strings(names)
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(d.Location[name])
	}
	return b.String()
}

// Of is the domain (0 … n-1) of a location key among n: FNV-1a of the key
// modulo n, the same in every process.
func Of(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(n))
}

// Device is device d's domain among n.
func Device(d *schedule.Device, n int) int { return Of(Key(d), n) }

// Shares counts plan's devices per domain among n.
func Shares(plan *schedule.Plan, n int) []int {
	out := make([]int, max(n, 1))
	for _, d := range plan.Devices {
		out[Device(d, n)]++
	}
	return out
}
