package modbus

import (
	"encoding/binary"
	"math"
	"testing"

	"canary/config"
	"canary/drivers"
)

// wire lays out a big-endian value as registers in order: an encoder
// written apart from the decoder, from the order's definition.
func wire(be []byte, ord string) []byte {
	n := len(be) / 2
	out := make([]byte, len(be))
	for i := 0; i < n; i++ {
		hi, lo := be[2*i], be[2*i+1]
		if ord == "BADC" || ord == "DCBA" {
			hi, lo = lo, hi
		}
		j := i
		if ord == "CDAB" || ord == "DCBA" {
			j = n - 1 - i
		}
		out[2*j], out[2*j+1] = hi, lo
	}
	return out
}

func mustPoint(t testing.TB, cp config.Point) point {
	t.Helper()
	p, err := compilePoint(cp, 1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var orders = []string{"ABCD", "CDAB", "BADC", "DCBA"}

func TestOrderLayouts(t *testing.T) {
	// The brief's definitions, spelled out byte by byte for 0x11223344 and
	// 0x1122334455667788.
	cases := map[string][2]string{
		"ABCD": {"\x11\x22\x33\x44", "\x11\x22\x33\x44\x55\x66\x77\x88"},
		"CDAB": {"\x33\x44\x11\x22", "\x77\x88\x55\x66\x33\x44\x11\x22"},
		"BADC": {"\x22\x11\x44\x33", "\x22\x11\x44\x33\x66\x55\x88\x77"},
		"DCBA": {"\x44\x33\x22\x11", "\x88\x77\x66\x55\x44\x33\x22\x11"},
	}
	for ord, want := range cases {
		p32 := mustPoint(t, config.Point{Type: "uint32", Order: ord})
		if got := decodeRegs(&p32, []byte(want[0])); got.v != drivers.Uint(0x11223344) {
			t.Errorf("uint32 %s: got %v", ord, got.v)
		}
		p64 := mustPoint(t, config.Point{Type: "uint64", Order: ord})
		if got := decodeRegs(&p64, []byte(want[1])); got.v != drivers.Uint(0x1122334455667788) {
			t.Errorf("uint64 %s: got %v", ord, got.v)
		}
		if string(wire([]byte(want[0]), "ABCD")) != want[0] || string(wire([]byte("\x11\x22\x33\x44"), ord)) != want[0] {
			t.Errorf("test encoder disagrees with %s", ord)
		}
	}
}

func TestDecodeTypes(t *testing.T) {
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	be64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	cases := []struct {
		name string
		cp   config.Point
		be   []byte
		want reading
	}{
		{"int16", config.Point{Type: "int16"}, be16(0xFFFE), good(drivers.Int(-2))},
		{"uint16", config.Point{}, be16(0xFFFE), good(drivers.Uint(65534))},
		{"int32", config.Point{Type: "int32"}, be32(uint32(0xFFFFFFFF)), good(drivers.Int(-1))},
		{"uint32", config.Point{Type: "uint32"}, be32(4000000000), good(drivers.Uint(4000000000))},
		{"int64", config.Point{Type: "int64"}, be64(uint64(math.MaxUint64 - 9)), good(drivers.Int(-10))},
		{"uint64", config.Point{Type: "uint64"}, be64(math.MaxUint64), good(drivers.Uint(math.MaxUint64))},
		{"float32", config.Point{Type: "float32"}, be32(math.Float32bits(12.5)), good(drivers.Float(12.5))},
		{"float64", config.Point{Type: "float64"}, be64(math.Float64bits(-0.125)), good(drivers.Float(-0.125))},
		{"float32 NaN", config.Point{Type: "float32"}, be32(0x7FC00000), outOfRange},
		{"float32 +Inf", config.Point{Type: "float32"}, be32(0x7F800000), outOfRange},
		{"float64 -Inf", config.Point{Type: "float64"}, be64(0xFFF0000000000000), outOfRange},
		{"scaled int16", config.Point{Type: "int16", Scale: 0.1}, be16(0xFFF6), good(drivers.Float(-1))},
		{"offset uint16", config.Point{Offset: -5}, be16(10), good(drivers.Float(5))},
		{"range 4-20mA", config.Point{RawMin: 4000, RawMax: 20000, EngMin: 0, EngMax: 100}, be16(12000), good(drivers.Float(50))},
		{"scaled float overflow", config.Point{Type: "float32", Scale: 1e300}, be32(math.Float32bits(1e30)), outOfRange},
		{"bit 0", config.Point{Type: "bit", Bit: 0}, be16(0x0001), good(drivers.Bool(true))},
		{"bit 15", config.Point{Type: "bit", Bit: 15}, be16(0x7FFF), good(drivers.Bool(false))},
		{"bit 15 inverted", config.Point{Type: "bit", Bit: 15, Invert: true}, be16(0x7FFF), good(drivers.Bool(true))},
		{"bool register", config.Point{Type: "bool"}, be16(0x0100), good(drivers.Bool(true))},
		{"bool register inverted", config.Point{Type: "bool", Invert: true}, be16(0), good(drivers.Bool(true))},
		{"string", config.Point{Type: "string", Length: 3}, []byte("CH4 \x00\x00"), good(drivers.String("CH4"))},
		{"string byte-swapped", config.Point{Type: "string", Length: 2, Order: "BADC"}, []byte("2H\x00S"), good(drivers.String("H2S"))},
		{"string utf8", config.Point{Type: "string", Length: 2}, []byte("\xc2\xb0C "), good(drivers.String("°C"))},
		{"string invalid utf8", config.Point{Type: "string", Length: 1}, []byte("\xff\xfe"), reading{q: drivers.Bad, r: drivers.ReasonConfig}},
	}
	for _, c := range cases {
		p := mustPoint(t, c.cp)
		if got := decodeRegs(&p, c.be); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestDecodeEveryOrder(t *testing.T) {
	for _, ord := range orders {
		for _, c := range []struct {
			typ  string
			be   []byte
			want drivers.Value
		}{
			{"int16", []byte{0x80, 0x01}, drivers.Int(-32767)},
			{"int32", binary.BigEndian.AppendUint32(nil, uint32(0x80000001)), drivers.Int(math.MinInt32 + 1)},
			{"uint32", binary.BigEndian.AppendUint32(nil, 0x01020304), drivers.Uint(0x01020304)},
			{"int64", binary.BigEndian.AppendUint64(nil, 0x8000000000000001), drivers.Int(math.MinInt64 + 1)},
			{"uint64", binary.BigEndian.AppendUint64(nil, 0x0102030405060708), drivers.Uint(0x0102030405060708)},
			{"float32", binary.BigEndian.AppendUint32(nil, math.Float32bits(-3.75)), drivers.Float(-3.75)},
			{"float64", binary.BigEndian.AppendUint64(nil, math.Float64bits(1e-300)), drivers.Float(1e-300)},
		} {
			p := mustPoint(t, config.Point{Type: c.typ, Order: ord})
			if got := decodeRegs(&p, wire(c.be, ord)); got != good(c.want) {
				t.Errorf("%s %s: got %v, want %v", c.typ, ord, got.v, c.want)
			}
		}
	}
}

func TestCompilePointErrors(t *testing.T) {
	for _, cp := range []config.Point{
		{Type: "float16"},
		{Order: "ACBD"},
		{Table: "coils"},
		{Table: "coil", Type: "uint16"},
		{Type: "bit", Bit: 16},
		{Type: "string"},
		{Type: "string", Length: 126},
		{Address: 65535, Type: "uint32"},
		{Address: -1},
		{UnitID: 256},
	} {
		if _, err := compilePoint(cp, 1); err == nil {
			t.Errorf("%+v: no error", cp)
		}
	}
	p := mustPoint(t, config.Point{Address: 65535})
	if p.addr != 65535 || p.n != 1 || p.unit != 1 || p.kind != kUint16 {
		t.Errorf("defaults at 65535: %+v", p)
	}
}
