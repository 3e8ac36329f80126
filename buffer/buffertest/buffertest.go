// Package buffertest is the conformance suite every buffer.Outbox
// implementation must pass, plus the helpers it needs.
package buffertest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"canary/buffer"
)

// Budget is the MaxBytes of Options: small enough that a few records of
// RecordSize payload bytes hit it.
const Budget = 8 << 10

// RecordSize is a payload size whose budget charge is exactly 1 KiB.
const RecordSize = 1024 - buffer.RecordOverhead

// Epoch is the fixed clock of Options, so gap records are reproducible.
var Epoch = time.UnixMilli(1_700_000_000_000)

// Options are the options an open function given to Run must use.
func Options() buffer.Options {
	return buffer.Options{
		MaxBytes:  Budget,
		Boot:      "boot-test",
		EncodeGap: EncodeGap,
		Now:       func() time.Time { return Epoch },
	}
}

// EncodeGap is a fixed-size binary encoding of a gap; DecodeGap reverses it.
func EncodeGap(g buffer.Gap) []byte {
	b := []byte{'G', byte(g.Lane)}
	b = binary.BigEndian.AppendUint64(b, g.FromSeq)
	b = binary.BigEndian.AppendUint64(b, g.ToSeq)
	b = binary.BigEndian.AppendUint64(b, uint64(g.Records))
	return append(b, g.Reason...)
}

// ErrNotGap is returned by DecodeGap for a payload EncodeGap did not make.
var ErrNotGap = errors.New("buffertest: not a gap payload")

// DecodeGap parses a payload made by EncodeGap.
func DecodeGap(p []byte) (buffer.Gap, error) {
	if len(p) < 26 || p[0] != 'G' {
		return buffer.Gap{}, fmt.Errorf("%w: %q", ErrNotGap, p)
	}
	return buffer.Gap{
		Lane:    buffer.Lane(p[1]),
		FromSeq: binary.BigEndian.Uint64(p[2:]),
		ToSeq:   binary.BigEndian.Uint64(p[10:]),
		Records: int(binary.BigEndian.Uint64(p[18:])),
		Reason:  string(p[26:]),
	}, nil
}

// Payload is a recognisable payload of n bytes for record i. It is
// pseudo-random, so compression cannot shrink it and the budget arithmetic
// of the suite holds whether or not an implementation compresses.
func Payload(i, n int) []byte {
	p := make([]byte, n)
	x := uint64(i)*0x9E3779B97F4A7C15 + 1
	for j := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[j] = byte(x)
	}
	if n >= 4 {
		binary.BigEndian.PutUint32(p, uint32(i))
	}
	return p
}
