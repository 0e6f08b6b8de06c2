package store

import "context"

// Footprint is how much of the readings table a store holds, for storage sizing.
type Footprint struct {
	Rows  int64
	Bytes int64 // on one replica
	// Replication is how many copies the store keeps of each row.
	Replication int
	// Method says where Bytes comes from; Estimate marks a figure that is not the
	// store's own measurement of its files.
	Method   string
	Estimate bool
}

// Footprinter is implemented by stores that can say how much they hold.
type Footprinter interface {
	Footprint(ctx context.Context) (Footprint, error)
}

// RawBytes is a row's field bytes as the table lays them out (key text, an
// 8-byte time, sequence number and write time, each metric's name and 8-byte
// value), before any storage engine overhead or compression.
func RawBytes(r Row) int64 {
	n := RawKeyBytes(r.DeviceID, r.Day)
	for k := range r.Metrics {
		n += RawMetricBytes(k)
	}
	return n
}

// RawKeyBytes is RawBytes without the metrics: the key text and the three 8-byte
// fields.
func RawKeyBytes(deviceID, day string) int64 { return int64(len(deviceID) + len(day) + 3*8) }

// RawMetricBytes is one metric's share of RawBytes: its name and 8-byte value.
func RawMetricBytes(name string) int64 { return int64(len(name) + 8) }
