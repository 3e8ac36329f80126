package buffer

import (
	"encoding/binary"
	"fmt"
	"time"
)

// codecVersion is the first byte of every stored value, so a later format
// can be told apart from this one instead of being misread.
const codecVersion = 1

// maxBootLen bounds the boot string so a corrupt length cannot make the
// decoder allocate or slice wildly.
const maxBootLen = 255

// encodeKey is the 8-byte big-endian seq: bbolt keeps keys sorted
// bytewise, so big-endian gives seq order for free.
func encodeKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func decodeKey(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("buffer: key of %d bytes: %w", len(k), ErrCorrupt)
	}
	return binary.BigEndian.Uint64(k), nil
}

// encodeValue lays out a record as
//
//	version(1) | uvarint len(boot) | boot | varint created unix ms | payload
//
// The payload runs to the end, so it needs no length of its own.
func encodeValue(r Record) []byte {
	boot := r.Boot
	if len(boot) > maxBootLen {
		boot = boot[:maxBootLen]
	}
	b := make([]byte, 0, 1+1+len(boot)+binary.MaxVarintLen64+len(r.Payload))
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, uint64(len(boot)))
	b = append(b, boot...)
	b = binary.AppendVarint(b, r.Created.UnixMilli())
	return append(b, r.Payload...)
}

// decodeValue is the inverse of encodeValue. The returned payload aliases
// v; callers outside a bbolt transaction must copy it.
func decodeValue(v []byte) (boot string, created time.Time, payload []byte, err error) {
	if len(v) < 1 || v[0] != codecVersion {
		return "", time.Time{}, nil, fmt.Errorf("buffer: value: unknown version: %w", ErrCorrupt)
	}
	rest := v[1:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > maxBootLen || uint64(len(rest)-k) < n {
		return "", time.Time{}, nil, fmt.Errorf("buffer: value: bad boot length: %w", ErrCorrupt)
	}
	boot, rest = string(rest[k:k+int(n)]), rest[k+int(n):]
	ms, k := binary.Varint(rest)
	if k <= 0 {
		return "", time.Time{}, nil, fmt.Errorf("buffer: value: bad created stamp: %w", ErrCorrupt)
	}
	return boot, time.UnixMilli(ms), rest[k:], nil
}

// payloadLen reads only as much of v as needed to size its payload; the
// budget bookkeeping needs nothing else.
func payloadLen(v []byte) (int64, error) {
	_, _, p, err := decodeValue(v)
	return int64(len(p)), err
}
