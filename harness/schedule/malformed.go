package schedule

import (
	"encoding/binary"
	"hash/fnv"
)

// markMalformed picks which of device d's messages go out malformed, and of
// which kind: each message independently with the fleet's fraction, from a hash
// of the seed, the device and the seq — not from the device's value stream, so
// turning malformed on changes no other message's values or times.
func markMalformed(d *Device, seed int64) {
	f := d.Fleet
	if f.Malformed <= 0 {
		return
	}
	kinds := f.MalformedMix()
	for i := range d.Messages {
		h := fnv.New64a()
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], uint64(seed))
		binary.LittleEndian.PutUint64(b[8:], d.Messages[i].Seq)
		h.Write(b[:])
		h.Write([]byte(d.ID))
		x := mix(h.Sum64())
		if float64(x>>11)/(1<<53) >= f.Malformed {
			continue
		}
		d.Messages[i].Malformed = uint8(1 + (x&0x7ff)%uint64(len(kinds)))
	}
}

// MalformedCount is how many of the plan's messages go out malformed.
func (p *Plan) MalformedCount() int {
	n := 0
	for _, d := range p.Devices {
		for _, m := range d.Messages {
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
