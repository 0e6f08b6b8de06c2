package codec

import "bytes"

// DeviceFinder is implemented by codecs that can name a payload's device
// without decoding it, so a component that routes by device (the bridge) can
// do so cheaply and decode elsewhere. ok is false when the payload does not
// name its device unambiguously; the caller then decodes it. A found id is the
// one Decode would return for the same payload whenever Decode accepts it.
type DeviceFinder interface {
	FindDevice(topic string, payload []byte) (id []byte, ok bool)
}

var deviceIDKey = []byte("device_id")

// FindDevice returns the value of the payload's one "device_id" member. It
// gives up (ok false) on anything encoding/json could read differently: a
// payload with any escape sequence (a key may be spelled with escapes), more
// than one member whose name matches device_id case-insensitively
// (encoding/json takes the last of them), or a value that is not a plain
// string.
func (jsonCodec) FindDevice(_ string, payload []byte) ([]byte, bool) {
	if bytes.IndexByte(payload, '\\') >= 0 {
		return nil, false
	}
	at := -1
	for i := 0; i+len(deviceIDKey)+2 <= len(payload); i++ {
		if payload[i] != '"' || payload[i+len(deviceIDKey)+1] != '"' ||
			!bytes.EqualFold(payload[i+1:i+1+len(deviceIDKey)], deviceIDKey) {
			continue
		}
		if at >= 0 {
			return nil, false
		}
		at = i + len(deviceIDKey) + 2
	}
	if at < 0 {
		return nil, false
	}
	rest := bytes.TrimLeft(payload[at:], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil, false // "device_id" was a value, not a member name
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end <= 0 {
		return nil, false
	}
	return rest[1 : 1+end], true
}
