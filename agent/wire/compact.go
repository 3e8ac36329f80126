package wire

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	"canary/drivers"
)

// The compact data body is how a data record is kept in the outbox: the
// same samples as the JSON body, in about a twentieth of the bytes, and
// cheaper to make than JSON. The forwarder turns it into the JSON body
// when it sends the record (AppendBody), so the wire format does not
// depend on it. Layout:
//
//	0xCB | flags (bit 0: historical) | sample…
//
// and each sample, up to the end of the body:
//
//	head | id | [ts] | [reason] | [value]
//
//	head   bits 0-2 value: 0 null, 1 false, 2 true, 3 int (zigzag varint),
//	       4 uint (uvarint), 5 decimal m×10^e (zigzag varint m, zigzag
//	       varint e), 6 string (uvarint length, bytes), 7 decimal with
//	       the e of the previous decimal (zigzag varint m).
//	       bits 3-4 quality (0 good, 1 uncertain, 2 bad); bit 5: a reason
//	       follows; bit 6: a ts follows; bit 7 must be 0.
//	id     front-coded against the previous sample's point id: one byte
//	       shared<<4 | suffix length when shared < 15 and length < 16,
//	       else 0xF0 then uvarint shared and uvarint length; the suffix
//	       bytes follow. 0xF1 alone: the previous id with its trailing
//	       number one higher, same width (GT-109 after GT-108).
//	ts     Unix ms as a zigzag varint delta from the previous sample's
//	       (from 0 for the first); absent: the same as the previous.
//	reason one byte, the index of a known reason in reasonCodes, or 0
//	       then uvarint length and the bytes.
//
// Floats are kept as the shortest decimal that reads back as the same
// float64 (strconv's round trip), so the JSON made from them parses to
// exactly the value read. NaN and infinities are null, as in JSON bodies.
const compactMagic = 0xCB

// value encodings in the head byte
const (
	encNull = iota
	encFalse
	encTrue
	encInt
	encUint
	encDecimal
	encString
	encDecimalSameE
)

const (
	headQualShift = 3
	headReason    = 1 << 5
	headTS        = 1 << 6
	headReserved  = 1 << 7
	idEscape      = 0xF0
	idNext        = 0xF1
	maxIDLen      = 4096 // ids longer than this cannot be decoded (config allows far less)
)

// reasonCodes are the reasons stored in one byte; index 0 means "spelled
// out". They are the stored format, kept apart from drivers.Reason's
// values: today each code equals its Reason, and an encoder check falls
// back to spelling out if that ever stops being true.
var reasonCodes = [...]drivers.Reason{drivers.ReasonNone, drivers.ReasonComm, drivers.ReasonSensorFault, drivers.ReasonMaintenance,
	drivers.ReasonOutOfRange, drivers.ReasonClockUnsynced, drivers.ReasonConfig}

// ErrBadBody is returned for a stored body that cannot be decoded.
var ErrBadBody = errors.New("wire: malformed compact body")

// IsCompact reports whether a stored body is a compact data body (a JSON
// body starts with '"').
func IsCompact(body []byte) bool { return len(body) > 0 && body[0] == compactMagic }

// DataEncoder builds compact data bodies. The zero value is ready after
// Reset; an encoder reuses its buffer, so Body is valid until the next
// Reset.
type DataEncoder struct {
	buf    []byte
	prevID string
	prevTS int64
	prevE  int // exponent of the previous decimal; none yet: outside any
	n      int
}

// Reset starts a new body.
func (e *DataEncoder) Reset(historical bool) {
	flags := byte(0)
	if historical {
		flags = 1
	}
	e.buf = append(e.buf[:0], compactMagic, flags)
	e.prevID, e.prevTS, e.prevE, e.n = "", 0, noExp, 0
}

// Len is the body's size so far; Samples how many it holds.
func (e *DataEncoder) Len() int     { return len(e.buf) }
func (e *DataEncoder) Samples() int { return e.n }

// Body is the body so far.
func (e *DataEncoder) Body() []byte { return e.buf }

// Split encodes samples as compact bodies of at most max bytes each (a
// sample is never split, so a body ends at the first sample that reaches
// max), calling emit with each body; the bytes are valid until emit
// returns.
func (e *DataEncoder) Split(samples []*drivers.Sample, historical bool, max int, emit func(body []byte)) {
	e.Reset(historical)
	for i := range samples {
		e.Add(samples[i])
		if e.Len() >= max || i == len(samples)-1 {
			emit(e.buf)
			e.Reset(historical)
		}
	}
}

// Add appends one sample.
func (e *DataEncoder) Add(s *drivers.Sample) {
	at := len(e.buf)
	e.buf = append(e.buf, 0)
	head := byte(s.Quality&3) << headQualShift
	e.appendID(s.Point)
	if ts := s.TS.UnixMilli(); ts != e.prevTS || e.n == 0 {
		head |= headTS
		e.buf = binary.AppendVarint(e.buf, ts-e.prevTS)
		e.prevTS = ts
	}
	if s.Reason != drivers.ReasonNone {
		head |= headReason
		e.appendReason(s.Reason)
	}
	var enc byte
	enc, e.buf = e.appendValue(s.Value)
	e.buf[at] = head | enc
	e.n++
}

// noExp is no decimal exponent: outside what decimal returns.
const noExp = 1 << 20

func (e *DataEncoder) appendID(id string) {
	if e.n > 0 && isNext(e.prevID, id) {
		e.buf = append(e.buf, idNext)
		e.prevID = id
		return
	}
	shared := 0
	for shared < len(id) && shared < len(e.prevID) && id[shared] == e.prevID[shared] {
		shared++
	}
	suffix := len(id) - shared
	if shared < 15 && suffix < 16 {
		e.buf = append(e.buf, byte(shared<<4|suffix))
	} else {
		e.buf = append(e.buf, idEscape)
		e.buf = binary.AppendUvarint(e.buf, uint64(shared))
		e.buf = binary.AppendUvarint(e.buf, uint64(suffix))
	}
	e.buf = append(e.buf, id[shared:]...)
	e.prevID = id
}

// isNext reports whether id is prev with its trailing decimal number
// incremented within the same width.
func isNext(prev, id string) bool {
	n := len(id)
	if n != len(prev) || n == 0 {
		return false
	}
	i := n - 1
	for i >= 0 && prev[i] == '9' && id[i] == '0' { // carries
		i--
	}
	if i < 0 || prev[i] < '0' || prev[i] > '8' || id[i] != prev[i]+1 {
		return false
	}
	return prev[:i] == id[:i]
}

func (e *DataEncoder) appendReason(r drivers.Reason) {
	if int(r) < len(reasonCodes) && reasonCodes[r] == r {
		e.buf = append(e.buf, byte(r))
		return
	}
	name := r.String() // not one of the codes: spelled out, as the format allows
	e.buf = append(e.buf, 0)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(name)))
	e.buf = append(e.buf, name...)
}

func (e *DataEncoder) appendValue(v drivers.Value) (byte, []byte) {
	dst := e.buf
	switch v.Kind() {
	case drivers.KindBool:
		if v.Bool() {
			return encTrue, dst
		}
		return encFalse, dst
	case drivers.KindInt:
		return encInt, binary.AppendVarint(dst, v.Int())
	case drivers.KindUint:
		return encUint, binary.AppendUvarint(dst, v.Uint())
	case drivers.KindString:
		dst = binary.AppendUvarint(dst, uint64(len(v.Str())))
		return encString, append(dst, v.Str()...)
	case drivers.KindFloat:
		m, exp, ok := decimal(v.Float())
		if !ok {
			return encNull, dst
		}
		dst = binary.AppendVarint(dst, m)
		if exp == e.prevE {
			return encDecimalSameE, dst
		}
		e.prevE = exp
		return encDecimal, binary.AppendVarint(dst, int64(exp))
	}
	return encNull, dst
}

// pow10 holds the exact powers of ten a float64 can represent.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// decimal finds m and e with m×10^e reading back as f: the shortest
// decimal for most field values (12.5, 0.25, 1013) without formatting
// it, else strconv's shortest round-trip digits. ok is false for NaN and
// infinities.
func decimal(f float64) (m int64, e int, ok bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, 0, false
	}
	const exact = 1 << 53
	for k := 0; k <= 6; k++ {
		t := f * pow10[k]
		if t != math.Trunc(t) || math.Abs(t) >= exact {
			continue
		}
		// A division of exact operands rounds like parsing the decimal:
		// equal here means "m e-k" reads back as f.
		if m = int64(t); float64(m)/pow10[k] == f {
			return trimZeros(m, -k)
		}
	}
	return shortest(f)
}

func trimZeros(m int64, e int) (int64, int, bool) {
	for m != 0 && m%10 == 0 {
		m /= 10
		e++
	}
	return m, e, true
}

// shortest uses strconv's shortest digits: at most 17, so m fits int64.
func shortest(f float64) (int64, int, bool) {
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // -d.ddde±dd
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	var m int64
	digits := 0
	i := 0
	for ; i < len(b) && b[i] != 'e'; i++ {
		if b[i] != '.' {
			m = m*10 + int64(b[i]-'0')
			digits++
		}
	}
	exp, sign := 0, 1
	for _, c := range b[i+1:] { // e±dd, strconv's own output
		switch c {
		case '-':
			sign = -1
		case '+':
		default:
			exp = exp*10 + int(c-'0')
		}
	}
	exp *= sign
	if neg {
		m = -m
	}
	return trimZeros(m, exp-(digits-1))
}
