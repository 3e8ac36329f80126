package drivers

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Quality says how far a sample's value can be trusted.
type Quality uint8

const (
	Good Quality = iota
	Uncertain
	Bad
)

func (q Quality) String() string {
	switch q {
	case Good:
		return "good"
	case Uncertain:
		return "uncertain"
	default:
		return "bad"
	}
}

// Reason explains a quality that is not Good. The set is the wire
// format's; a Reason is one byte so that a Sample carries no pointer for it.
type Reason uint8

const (
	ReasonNone Reason = iota
	ReasonComm
	ReasonSensorFault
	ReasonMaintenance
	ReasonOutOfRange
	ReasonClockUnsynced
	ReasonConfig
	numReasons
)

var reasonNames = [numReasons]string{"", "comm", "sensor_fault", "maintenance", "out_of_range", "clock_unsynced", "config"}

// String is the reason as the wire format spells it, "" for none.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// ParseReason returns the reason the wire format spells s, and whether
// there is one.
func ParseReason(s string) (Reason, bool) {
	for i, n := range reasonNames {
		if n == s {
			return Reason(i), true
		}
	}
	return ReasonNone, false
}

// Kind is the type of a Value.
type Kind uint8

const (
	KindNone Kind = iota // no value: only valid with a quality that is not Good
	KindFloat
	KindInt
	KindUint
	KindBool
	KindString
)

// Value is a sample's value without an interface allocation: numbers and
// bools live in bits, strings in str.
type Value struct {
	kind Kind
	bits uint64
	str  string
}

func Float(f float64) Value { return Value{kind: KindFloat, bits: math.Float64bits(f)} }
func Int(i int64) Value     { return Value{kind: KindInt, bits: uint64(i)} }
func Uint(u uint64) Value   { return Value{kind: KindUint, bits: u} }
func String(s string) Value { return Value{kind: KindString, str: s} }
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, bits: 1}
	}
	return Value{kind: KindBool}
}

func (v Value) Kind() Kind { return v.kind }

// Float returns the value as a float64; bools are 0 or 1, strings and
// missing values are NaN.
func (v Value) Float() float64 {
	switch v.kind {
	case KindFloat:
		return math.Float64frombits(v.bits)
	case KindInt:
		return float64(int64(v.bits))
	case KindUint, KindBool:
		return float64(v.bits)
	}
	return math.NaN()
}

// Bool reports a bool value, or whether a number is non-zero.
func (v Value) Bool() bool {
	if v.kind == KindFloat {
		return v.Float() != 0
	}
	return v.bits != 0
}

func (v Value) Str() string { return v.str }

// Int and Uint return an integer value's exact bits (no conversion
// through float64); they are meaningful for KindInt and KindUint.
func (v Value) Int() int64   { return int64(v.bits) }
func (v Value) Uint() uint64 { return v.bits }

// Equal reports whether two values are identical in kind and content.
func (v Value) Equal(o Value) bool { return v == o }

// AppendJSON appends the value as a JSON literal. A missing value or a
// non-finite float is null: JSON has no NaN.
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.kind {
	case KindFloat:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(dst, "null"...)
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case KindInt:
		return strconv.AppendInt(dst, int64(v.bits), 10)
	case KindUint:
		return strconv.AppendUint(dst, v.bits, 10)
	case KindBool:
		return strconv.AppendBool(dst, v.bits != 0)
	case KindString:
		b, _ := json.Marshal(v.str) // JSON escaping, not Go's
		return append(dst, b...)
	}
	return append(dst, "null"...)
}

func (v Value) String() string { return string(v.AppendJSON(nil)) }

// Sample is one point's reading.
type Sample struct {
	Point   string
	TS      time.Time // at the source: device time, else read completion
	Value   Value
	Quality Quality
	Reason  Reason // set when Quality is not Good
}

// Scan is one poll (or one notification batch) of one device. Samples
// holds every point read; Err, when set, is the communication error that
// made them Bad. The Source may reuse the Samples slice after emit returns;
// emit does not modify it (the agent copies a sample it qualifies).
type Scan struct {
	Device  string
	At      time.Time     // when the poll started
	Latency time.Duration // request to last reply
	Err     error
	Samples []Sample
}

// Refs is a slice of pointers to each of samples. The pipeline and the
// encoders take samples by reference (so a scan's samples are not
// copied); Refs is for callers that hold them by value: tests, benchmarks
// and tools.
func Refs(samples []Sample) []*Sample {
	out := make([]*Sample, len(samples))
	for i := range samples {
		out[i] = &samples[i]
	}
	return out
}
