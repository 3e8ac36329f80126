package buffer

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Stored value versions. Version 1 (no flags byte) is still read, so an
// outbox written by an older agent drains after an upgrade.
const (
	codecV1      = 1
	codecVersion = 2
)

// Value flags (version 2).
const (
	flagDeflate = 1 << 0 // payload is raw DEFLATE with the preset dictionary
)

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

// stored is a record's payload as kept on disk: possibly compressed.
type stored struct {
	body  []byte
	flags byte
}

// encodeValue lays out a record as
//
//	version(2) | flags(1) | uvarint len(boot) | boot | varint created unix ms | body
//
// The body runs to the end, so it needs no length of its own.
func encodeValue(r Record, s stored) []byte {
	boot := r.Boot
	if len(boot) > maxBootLen {
		boot = boot[:maxBootLen]
	}
	b := make([]byte, 0, 2+1+len(boot)+binary.MaxVarintLen64+len(s.body))
	b = append(b, codecVersion, s.flags)
	b = binary.AppendUvarint(b, uint64(len(boot)))
	b = append(b, boot...)
	b = binary.AppendVarint(b, r.Created.UnixMilli())
	return append(b, s.body...)
}

// value is a decoded stored value; body aliases the bbolt page.
type value struct {
	boot    string
	created time.Time
	stored
}

// decodeValue is the inverse of encodeValue (and reads version 1). The
// body aliases v; callers outside a bbolt transaction must copy it.
func decodeValue(v []byte) (value, error) {
	var out value
	if len(v) < 1 || (v[0] != codecVersion && v[0] != codecV1) {
		return out, fmt.Errorf("buffer: value: unknown version: %w", ErrCorrupt)
	}
	rest := v[1:]
	if v[0] == codecVersion {
		if len(rest) < 1 || rest[0]&^flagDeflate != 0 {
			return out, fmt.Errorf("buffer: value: unknown flags: %w", ErrCorrupt)
		}
		out.flags, rest = rest[0], rest[1:]
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > maxBootLen || uint64(len(rest)-k) < n {
		return out, fmt.Errorf("buffer: value: bad boot length: %w", ErrCorrupt)
	}
	out.boot, rest = string(rest[k:k+int(n)]), rest[k+int(n):]
	ms, k := binary.Varint(rest)
	if k <= 0 {
		return out, fmt.Errorf("buffer: value: bad created stamp: %w", ErrCorrupt)
	}
	out.created, out.body = time.UnixMilli(ms), rest[k:]
	return out, nil
}

// record decodes v fully, inflating the payload into fresh memory.
func (v value) record(l Lane, seq uint64) (Record, error) {
	p, err := v.payload()
	if err != nil {
		return Record{}, fmt.Errorf("%s seq %d: %w", l, seq, err)
	}
	return Record{Lane: l, Seq: seq, Boot: v.boot, Created: v.created, Payload: p}, nil
}

// payload returns a fresh copy of the original payload.
func (v value) payload() ([]byte, error) {
	if v.flags&flagDeflate == 0 {
		return clone(v.body), nil
	}
	return inflate(v.body)
}

// storedLen reads only as much of v as needed to size what it charges
// against the budget: the stored (possibly compressed) body.
func storedLen(v []byte) (int64, error) {
	d, err := decodeValue(v)
	return int64(len(d.body)), err
}
