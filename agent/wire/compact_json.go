package wire

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// AppendBody appends the JSON body of a stored body: a compact data body
// is decoded (see DataEncoder), a JSON body is copied.
func AppendBody(dst, body []byte) ([]byte, error) {
	if !IsCompact(body) {
		return append(dst, body...), nil
	}
	d := compactReader{b: body}
	return d.appendJSON(dst)
}

// compactReader walks a compact body.
type compactReader struct {
	b      []byte
	i      int
	id     []byte // the previous sample's point id
	ts     int64
	tsText []byte // ts formatted, reused while it does not change
	exp    int64  // the previous decimal's exponent
	hasExp bool
	err    error
}

func (d *compactReader) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrBadBody, what, d.i)
	}
}

func (d *compactReader) byte() byte {
	if d.i >= len(d.b) {
		d.fail("truncated")
		return 0
	}
	c := d.b[d.i]
	d.i++
	return c
}

func (d *compactReader) uvarint() uint64 { return readVar(d, binary.Uvarint) }
func (d *compactReader) varint() int64   { return readVar(d, binary.Varint) }

// readVar reads one varint with decode (binary.Uvarint or Varint).
func readVar[T int64 | uint64](d *compactReader, decode func([]byte) (T, int)) T {
	v, n := decode(d.b[min(d.i, len(d.b)):])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.i += n
	return v
}

// bytes returns the next n bytes (aliasing the body).
func (d *compactReader) bytes(n uint64) []byte {
	if n > uint64(len(d.b)-min(d.i, len(d.b))) {
		d.fail("length beyond the body")
		return nil
	}
	out := d.b[d.i : d.i+int(n)]
	d.i += int(n)
	return out
}

func (d *compactReader) appendJSON(dst []byte) ([]byte, error) {
	if len(d.b) < 2 || d.b[0] != compactMagic || d.b[1]&^1 != 0 {
		return dst, fmt.Errorf("%w: bad header", ErrBadBody)
	}
	dst = appendHistorical(dst, d.b[1]&1 == 1)
	dst = append(dst, `,"samples":[`...)
	d.i = 2
	for n := 0; d.i < len(d.b) && d.err == nil; n++ {
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = d.appendSample(dst)
	}
	if d.err != nil {
		return dst, d.err
	}
	return append(dst, ']'), nil
}

func (d *compactReader) appendSample(dst []byte) []byte {
	head := d.byte()
	enc, q := head&7, head>>headQualShift&3
	if head&headReserved != 0 || q > 2 {
		d.fail("bad sample head")
		return dst
	}
	d.readID()
	if head&headTS != 0 || len(d.tsText) == 0 {
		d.ts += d.varint()
		d.tsText = strconv.AppendInt(d.tsText[:0], d.ts, 10)
	}
	dst = append(dst, `{"point":`...)
	dst = appendBytesString(dst, d.id)
	dst = append(dst, `,"ts":`...)
	dst = append(dst, d.tsText...)
	var reason []byte
	if head&headReason != 0 {
		reason = d.reason()
	}
	dst = append(dst, `,"value":`...)
	dst = d.appendValue(dst, enc)
	dst = append(dst, `,"quality":"`...)
	dst = append(dst, qualityNames[q]...)
	dst = append(dst, '"')
	if reason != nil {
		dst = append(dst, `,"reason":`...)
		dst = appendBytesString(dst, reason)
	}
	return append(dst, '}')
}

var qualityNames = [...]string{"good", "uncertain", "bad"}

var reasonBytes = func() (out [len(reasonCodes)][]byte) {
	for i, r := range reasonCodes {
		out[i] = []byte(r.String())
	}
	return out
}()

func (d *compactReader) readID() {
	c := d.byte()
	if c == idNext {
		d.nextID()
		return
	}
	shared, suffix := uint64(c>>4), uint64(c&15)
	switch {
	case c == idEscape:
		shared, suffix = d.uvarint(), d.uvarint()
	case c&idEscape == idEscape:
		d.fail("bad point id code")
		return
	}
	if shared > uint64(len(d.id)) || shared+suffix > maxIDLen {
		d.fail("bad point id")
		return
	}
	d.id = append(d.id[:shared], d.bytes(suffix)...)
}

// nextID increments the previous id's trailing number in place.
func (d *compactReader) nextID() {
	i := len(d.id) - 1
	for i >= 0 && d.id[i] == '9' {
		d.id[i] = '0'
		i--
	}
	if i < 0 || d.id[i] < '0' || d.id[i] > '8' {
		d.fail("point id has no number to increment")
		return
	}
	d.id[i]++
}

func (d *compactReader) reason() []byte {
	c := d.byte()
	if c == 0 {
		r := d.bytes(d.uvarint())
		if r == nil {
			r = []byte{}
		}
		return r
	}
	if int(c) >= len(reasonBytes) {
		d.fail("bad reason code")
		return nil
	}
	return reasonBytes[c]
}

func (d *compactReader) appendValue(dst []byte, enc byte) []byte {
	switch enc {
	case encFalse:
		return append(dst, "false"...)
	case encTrue:
		return append(dst, "true"...)
	case encInt:
		return strconv.AppendInt(dst, d.varint(), 10)
	case encUint:
		return strconv.AppendUint(dst, d.uvarint(), 10)
	case encDecimal, encDecimalSameE:
		m := d.varint()
		if enc == encDecimal {
			d.exp, d.hasExp = d.varint(), true
		}
		if !d.hasExp || d.exp < -400 || d.exp > 400 {
			d.fail("bad exponent")
			return dst
		}
		return appendDecimal(dst, m, int(d.exp))
	case encString:
		return appendBytesString(dst, d.bytes(d.uvarint()))
	}
	return append(dst, "null"...)
}

// appendDecimal writes m×10^e as a JSON number: plain notation when the
// point falls within 21 digits, as JavaScript does, else scientific.
func appendDecimal(dst []byte, m int64, e int) []byte {
	if m < 0 {
		dst = append(dst, '-')
	}
	var buf [24]byte
	digits := strconv.AppendUint(buf[:0], uabs(m), 10)
	nd := len(digits)
	sci := e + nd - 1 // exponent of the first digit
	switch {
	case m == 0:
		return append(dst, '0')
	case sci < -7 || sci >= 21:
		dst = append(dst, digits[0])
		if nd > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		return strconv.AppendInt(dst, int64(sci), 10)
	case e >= 0:
		dst = append(dst, digits...)
		for range e {
			dst = append(dst, '0')
		}
		return dst
	case sci >= 0:
		dst = append(dst, digits[:nd+e]...)
		dst = append(dst, '.')
		return append(dst, digits[nd+e:]...)
	}
	dst = append(dst, "0."...)
	for range -sci - 1 {
		dst = append(dst, '0')
	}
	return append(dst, digits...)
}

func uabs(m int64) uint64 {
	if m < 0 {
		return uint64(-m) // also right for MinInt64
	}
	return uint64(m)
}

// appendBytesString is appendString for bytes, without allocating for
// plain ASCII.
func appendBytesString(dst, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return appendString(dst, string(s))
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
