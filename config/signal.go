package config

// Signal converts a 4–20 mA loop reading (from an analog input module or
// a detector that reports its loop current) into engineering units, with
// fault bands that set the quality instead of a value. The point's decoded
// raw number is the loop current: in mA by default, in µA with unit uA, or
// in counts when raw_4ma/raw_20ma give the counts at 4 and 20 mA. 4..20 mA
// maps linearly onto the point's eng_min..eng_max. Bands are checked in
// order, the point's own first, then the standard's (NAMUR NE43 by
// default). A reading in any band has no value.
type Signal struct {
	Kind     string  `yaml:"kind"`     // 4-20mA
	Unit     string  `yaml:"unit"`     // mA (default) or uA, when raw_4ma/raw_20ma are not set
	Raw4mA   float64 `yaml:"raw_4ma"`  // raw counts at 4 mA
	Raw20mA  float64 `yaml:"raw_20ma"` // raw counts at 20 mA
	Standard string  `yaml:"standard"` // namur (default) or none
	Bands    []Band  `yaml:"bands"`    // vendor bands, checked before the standard's
}

// Band is a current range (mA) whose readings are not measurements: the
// reading matches when it is above Above (if set) and below Below (if
// set).
type Band struct {
	Above   *float64 `yaml:"above"`
	Below   *float64 `yaml:"below"`
	Quality string   `yaml:"quality"` // bad or uncertain
	Reason  string   `yaml:"reason"`  // sensor_fault, maintenance, out_of_range
}

// NAMUR NE43 bands in mA.
const (
	NAMURFaultLow      = 3.6
	NAMURUnderRangeEnd = 3.8
	NAMUROverRange     = 20.5
	NAMURFaultHigh     = 21.0
)

func (v *checker) signal(p string, pt *Point) {
	s := pt.Signal
	if s == nil {
		return
	}
	p += ".signal"
	v.oneOf(p+".kind", "signal kind", s.Kind, "4-20mA")
	if s.Unit != "" {
		v.oneOf(p+".unit", "unit", s.Unit, "mA", "uA")
	}
	if s.Standard != "" {
		v.oneOf(p+".standard", "standard", s.Standard, "namur", "none")
	}
	if (s.Raw4mA != 0 || s.Raw20mA != 0) && s.Raw4mA == s.Raw20mA {
		v.errorf(p+".raw_20ma", "must differ from raw_4ma (both %g)", s.Raw4mA)
	}
	if (s.Raw4mA != 0 || s.Raw20mA != 0) && s.Unit != "" {
		v.errorf(p+".unit", "give unit or raw_4ma/raw_20ma, not both")
	}
	if pt.EngMax == pt.EngMin {
		v.errorf(p, "eng_min and eng_max (the values at 4 and 20 mA) must be set and differ")
	}
	if pt.RawMin != 0 || pt.RawMax != 0 || pt.Scale != 1 || pt.Offset != 0 {
		v.errorf(p, "a 4-20mA signal does its own scaling: leave out raw_min, raw_max, scale and offset")
	}
	for i, b := range s.Bands {
		bp := indexPath(p+".bands", i)
		if b.Above == nil && b.Below == nil {
			v.errorf(bp, "needs above, below or both (mA)")
		}
		if b.Above != nil && b.Below != nil && !(*b.Above < *b.Below) {
			v.errorf(bp+".below", "%g must be above %g", *b.Below, *b.Above)
		}
		v.oneOf(bp+".quality", "quality", b.Quality, "bad", "uncertain")
		v.oneOf(bp+".reason", "reason", b.Reason, "sensor_fault", "maintenance", "out_of_range")
	}
}
