package modbus

import (
	"encoding/binary"
	"testing"

	"canary/config"
	"canary/drivers"
)

func f64(v float64) *float64 { return &v }

func TestSignal4to20(t *testing.T) {
	namurOnly := config.Point{Type: "uint16", EngMax: 100, Signal: &config.Signal{Kind: "4-20mA", Unit: "uA"}}
	vendor := config.Point{Type: "uint16", EngMax: 100, Signal: &config.Signal{Kind: "4-20mA", Unit: "uA", Bands: []config.Band{
		{Below: f64(1), Quality: "bad", Reason: "sensor_fault"},
		{Above: f64(1.5), Below: f64(2.5), Quality: "uncertain", Reason: "maintenance"},
	}}}
	counts := config.Point{Type: "int16", EngMin: 0, EngMax: 50, Signal: &config.Signal{Kind: "4-20mA", Raw4mA: 6400, Raw20mA: 32000}}
	none := config.Point{Type: "uint16", EngMax: 100, Signal: &config.Signal{Kind: "4-20mA", Unit: "uA", Standard: "none"}}
	bad := func(r drivers.Reason) reading { return reading{q: drivers.Bad, r: r} }
	unc := func(r drivers.Reason) reading { return reading{q: drivers.Uncertain, r: r} }
	for _, tc := range []struct {
		name string
		cp   config.Point
		raw  uint16
		want reading
	}{
		{"4 mA is eng_min", namurOnly, 4000, good(drivers.Float(0))},
		{"12 mA is half", namurOnly, 12000, good(drivers.Float(50))},
		{"20 mA is eng_max", namurOnly, 20000, good(drivers.Float(100))},
		{"3.9 mA under 4 is still a value", namurOnly, 3900, good(drivers.Float(-0.625))},
		{"3.8 mA edge is a value", namurOnly, 3800, good(drivers.Float(-1.25))},
		{"3.7 mA under-range", namurOnly, 3700, unc(drivers.ReasonOutOfRange)},
		{"3.6 mA under-range", namurOnly, 3600, unc(drivers.ReasonOutOfRange)},
		{"3.59 mA fault", namurOnly, 3590, bad(drivers.ReasonSensorFault)},
		{"0 mA fault", namurOnly, 0, bad(drivers.ReasonSensorFault)},
		{"20.5 mA edge is a value", namurOnly, 20500, good(drivers.Float(103.125))},
		{"20.8 mA over-range", namurOnly, 20800, unc(drivers.ReasonOutOfRange)},
		{"21 mA over-range", namurOnly, 21000, unc(drivers.ReasonOutOfRange)},
		{"21.1 mA fault", namurOnly, 21100, bad(drivers.ReasonSensorFault)},
		{"vendor 2 mA calibrating", vendor, 2000, unc(drivers.ReasonMaintenance)},
		{"vendor 0 mA fault", vendor, 0, bad(drivers.ReasonSensorFault)},
		{"vendor 1.2 mA falls to NAMUR", vendor, 1200, bad(drivers.ReasonSensorFault)},
		{"vendor 12 mA", vendor, 12000, good(drivers.Float(50))},
		{"counts 6400 = 4 mA", counts, 6400, good(drivers.Float(0))},
		{"counts 32000 = 20 mA", counts, 32000, good(drivers.Float(50))},
		{"counts 0 fault", counts, 0, bad(drivers.ReasonSensorFault)},
		{"no standard: 0 mA is a number", none, 0, good(drivers.Float(-25))},
	} {
		p := mustPoint(t, tc.cp)
		var b [2]byte
		binary.BigEndian.PutUint16(b[:], tc.raw)
		got := decodeRegs(&p, b[:])
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
		if got.q != drivers.Good && got.v != (drivers.Value{}) {
			t.Errorf("%s: a reading in a band has a value %v", tc.name, got.v)
		}
	}
}

func TestSignalFloatInput(t *testing.T) {
	p := mustPoint(t, config.Point{Type: "float32", EngMax: 100, Signal: &config.Signal{Kind: "4-20mA"}})
	b := wire(binary.BigEndian.AppendUint32(nil, 0x41400000), "ABCD") // 12.0 mA
	if got := decodeRegs(&p, b); got != good(drivers.Float(50)) {
		t.Errorf("12.0 mA float: got %+v", got)
	}
	if n := testing.AllocsPerRun(100, func() { decodeRegs(&p, b) }); n != 0 {
		t.Errorf("decode with a signal allocates %v times", n)
	}
}

// A status word's bits: the fault and maintenance bits of a detector's
// status register (DOMAIN.md: reg 1) decode one by one.
func TestStatusWordBits(t *testing.T) {
	word := []byte{0x80, 0x03} // bits 0, 1 and 15 set
	for bit, want := range map[int]bool{0: true, 1: true, 2: false, 7: false, 8: false, 15: true} {
		p := mustPoint(t, config.Point{Type: "bit", Bit: bit, Kind: "fault", Of: "gas"})
		if got := decodeRegs(&p, word); got != good(drivers.Bool(want)) {
			t.Errorf("bit %d: got %+v, want %v", bit, got, want)
		}
	}
	inv := mustPoint(t, config.Point{Type: "bit", Bit: 2, Invert: true, Kind: "maintenance", Of: "gas"})
	if got := decodeRegs(&inv, word); got != good(drivers.Bool(true)) {
		t.Errorf("inverted bit 2: got %+v", got)
	}
}
