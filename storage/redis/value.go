package redis

import (
	"encoding/binary"
	"errors"
)

// Stored value format, version 1. Every Redis string this package writes is
//
//	offset 0  1 byte   format version, 0x01
//	offset 1  1 byte   flags; bit 0 = used (consumed, or a replay-cache entry),
//	                   bits 4-7 = the state Advance steps (0 when written)
//	offset 2  8 bytes  expiry instant, ms since the Unix epoch, big-endian
//	offset 10 n bytes  the caller's value (a counter: its decimal count)
//
// The Lua scripts in scripts.go read the same layout; a fixture of it is in
// storage/testdata/redis-values-v1.txt. Changing it needs a new version byte.
const (
	formatV1   = 0x01
	flagUsed   = 0x01
	headerLen  = 10
	stateShift = 4
)

var errFormat = errors.New("unknown stored value format")

// encodeValue returns the stored form of value. Instants before the epoch
// are stored as 0 (always expired).
func encodeValue(value []byte, expMs int64, used bool) []byte {
	b := make([]byte, headerLen, headerLen+len(value))
	b[0] = formatV1
	if used {
		b[1] = flagUsed
	}
	binary.BigEndian.PutUint64(b[2:], uint64(max(expMs, 0)))
	return append(b, value...)
}

// decodeValue is the inverse of encodeValue; value aliases raw.
func decodeValue(raw []byte) (value []byte, expMs int64, used bool, err error) {
	if len(raw) < headerLen || raw[0] != formatV1 {
		return nil, 0, false, errFormat
	}
	exp := binary.BigEndian.Uint64(raw[2:])
	if exp > 1<<53 { // Lua reads the instant as a double; larger ones are not ours.
		return nil, 0, false, errFormat
	}
	return raw[headerLen:], int64(exp), raw[1]&flagUsed != 0, nil
}

// stateOf returns the Advance state of a stored string decodeValue accepted.
func stateOf(raw []byte) uint8 { return raw[1] >> stateShift }
