package schedule

import (
	"encoding/binary"
	"hash/fnv"
)

// MalformedAt is 0 when device d's message seq goes out valid, else 1 + the
// index of its kind in the fleet's MalformedMix: each message independently
// with the fleet's fraction, from a hash of the seed, the device and the seq —
// not from the device's value stream, so turning malformed on changes no other
// message's values or times.
func (d *Device) MalformedAt(seq uint64) uint8 {
	f := d.Fleet
	if f.Malformed <= 0 {
		return 0
	}
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(d.gen.malformedSeed))
	binary.LittleEndian.PutUint64(b[8:], seq)
	h.Write(b[:])
	h.Write([]byte(d.ID))
	x := mix(h.Sum64())
	if float64(x>>11)/(1<<53) >= f.Malformed {
		return 0
	}
	return uint8(1 + (x&0x7ff)%uint64(len(f.MalformedMix())))
}

// MalformedCount is how many of the plan's messages go out malformed (it walks
// the messages of fleets that send any).
func (p *Plan) MalformedCount() int {
	n := 0
	for _, d := range p.Devices {
		if d.Fleet.Malformed <= 0 {
			continue
		}
		for m := range d.All() {
			if m.Malformed != 0 {
				n++
			}
		}
	}
	return n
}

// MalformedKind names the kind of a malformed message m of device d ("" for a valid one).
func (d *Device) MalformedKind(m *Message) string {
	if m.Malformed == 0 {
		return ""
	}
	return d.Fleet.MalformedMix()[m.Malformed-1]
}

// IsMalformed reports whether m goes out malformed.
func (m *Message) IsMalformed() bool { return m.Malformed != 0 }

// mix is splitmix64's finaliser: FNV alone leaves the high bits of hashes of
// near-identical inputs (consecutive seqs) correlated.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
