// Package store defines where readings land: one interface with a Cassandra and an
// in-memory implementation that share its semantics, write times included.
package store

import (
	"context"
	"time"
)

// Row is one stored reading. (DeviceID, Day) is the partition, (Time, Seq) the
// clustering key, so writing the same reading twice overwrites it.
type Row struct {
	DeviceID string
	Day      string    // UTC date of Time, "2006-01-02"
	Time     time.Time // sample time
	Seq      uint64
	Metrics  map[string]float64
	// WriteTime is when the store accepted the row (Cassandra WRITETIME); set by
	// the store on write, returned on read.
	WriteTime time.Time
}

// ValueBytes is the size of r's column values as CQL serialises them: text as
// its UTF-8 bytes, timestamp and bigint 8 each, map<text, double> as a 4-byte
// entry count plus, per entry, two 4-byte length prefixes, the name and 8. It is
// what one reading stores before the storage engine's own per-row overhead and
// compression — the unit of a city's storage arithmetic.
func (r Row) ValueBytes() int {
	n := len(r.DeviceID) + len(r.Day) + 8 + 8 + 4
	for name := range r.Metrics {
		n += 4 + len(name) + 4 + 8
	}
	return n
}

// Device is what the pipeline knows about one device.
type Device struct {
	ID       string
	Model    string
	Topic    string
	Location map[string]string // from the topic template, e.g. zip, building, floor
	LastSeen time.Time
}

// Query selects readings of one device.
type Query struct {
	DeviceID string
	From, To time.Time // [From, To)
	Limit    int       // 0 = store default cap
}

// Store is the pipeline's storage. Implementations are safe for concurrent use.
type Store interface {
	// WriteReadings stores rows idempotently; rows may span partitions.
	WriteReadings(ctx context.Context, rows []Row) error
	// UpsertDevices records devices and advances their last-seen time.
	UpsertDevices(ctx context.Context, devices []Device) error
	Devices(ctx context.Context) ([]Device, error)
	Readings(ctx context.Context, q Query) ([]Row, error)
	Close() error
}
