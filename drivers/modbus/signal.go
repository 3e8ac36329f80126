package modbus

import (
	"fmt"
	"math"

	"canary/config"
	"canary/drivers"
)

// signal is a compiled 4–20 mA conversion: raw -> loop current (mA) ->
// bands -> engineering value. Checking it allocates nothing.
type signal struct {
	raw4, raw20    float64 // raw numbers at 4 and 20 mA
	engMin, engMax float64
	bands          []band // the point's own, then the standard's
}

// band is an open current range (mA) whose readings carry no value.
type band struct {
	above, below float64 // -Inf / +Inf when not set
	r            reading
}

// namur is NAMUR NE43: below 3.6 or above 21 mA the transmitter signals a
// fault; 3.6–3.8 and 20.5–21 mA are under- and over-range.
var namur = []band{
	{above: negInf, below: config.NAMURFaultLow, r: reading{q: drivers.Bad, r: drivers.ReasonSensorFault}},
	{above: config.NAMURFaultHigh, below: posInf, r: reading{q: drivers.Bad, r: drivers.ReasonSensorFault}},
	{above: config.NAMURFaultLow - 1e-9, below: config.NAMURUnderRangeEnd, r: reading{q: drivers.Uncertain, r: drivers.ReasonOutOfRange}},
	{above: config.NAMUROverRange, below: config.NAMURFaultHigh + 1e-9, r: reading{q: drivers.Uncertain, r: drivers.ReasonOutOfRange}},
}

var negInf, posInf = math.Inf(-1), math.Inf(1)

var qualities = map[string]drivers.Quality{"bad": drivers.Bad, "uncertain": drivers.Uncertain}

func compileSignal(cp config.Point) (*signal, error) {
	cs := cp.Signal
	if cs == nil {
		return nil, nil
	}
	if cs.Kind != "4-20mA" {
		return nil, fmt.Errorf("unknown signal kind %q", cs.Kind)
	}
	s := &signal{raw4: 4, raw20: 20, engMin: cp.EngMin, engMax: cp.EngMax}
	switch {
	case cs.Raw4mA != cs.Raw20mA:
		s.raw4, s.raw20 = cs.Raw4mA, cs.Raw20mA
	case cs.Unit == "uA":
		s.raw4, s.raw20 = 4000, 20000
	}
	for _, b := range cs.Bands {
		q, ok := qualities[b.Quality]
		if !ok {
			return nil, fmt.Errorf("unknown band quality %q", b.Quality)
		}
		why, ok := drivers.ParseReason(b.Reason)
		if !ok {
			return nil, fmt.Errorf("unknown band reason %q", b.Reason)
		}
		nb := band{above: negInf, below: posInf, r: reading{q: q, r: why}}
		if b.Above != nil {
			nb.above = *b.Above
		}
		if b.Below != nil {
			nb.below = *b.Below
		}
		s.bands = append(s.bands, nb)
	}
	if cs.Standard != "none" {
		s.bands = append(s.bands, namur...)
	}
	return s, nil
}

// convert turns a raw reading into a value, or into the quality of the
// band the loop current is in.
func (s *signal) convert(raw float64) reading {
	ma := 4 + (raw-s.raw4)*16/(s.raw20-s.raw4)
	if math.IsNaN(ma) || math.IsInf(ma, 0) {
		return outOfRange
	}
	for i := range s.bands {
		if b := &s.bands[i]; ma > b.above && ma < b.below {
			return b.r
		}
	}
	return reading{v: drivers.Float(s.engMin + (raw-s.raw4)*(s.engMax-s.engMin)/(s.raw20-s.raw4))}
}
