package modbus

import (
	"fmt"
	"strings"

	"canary/config"
)

// table is a Modbus data table.
type table uint8

const (
	tCoil table = iota
	tDiscrete
	tInput
	tHolding
)

var tableNames = map[string]table{"coil": tCoil, "discrete": tDiscrete, "input": tInput, "holding": tHolding}

func (t table) String() string {
	return [...]string{"coil", "discrete", "input", "holding"}[t]
}

// bits reports whether the table holds single bits rather than registers.
func (t table) bits() bool { return t == tCoil || t == tDiscrete }

// maxQty is the most a single read of the table may ask for.
func (t table) maxQty() int {
	if t.bits() {
		return 2000
	}
	return 125
}

// point is a config.Point compiled for reading: defaults applied, names
// resolved to enums, the span it occupies known.
type point struct {
	id      string
	unit    uint8
	table   table
	addr    uint16
	n       int // registers, or bits in a bit table
	kind    kind
	order   order
	bit     uint8
	invert  bool
	toFloat bool     // integers become floats: scaling or a signal is set
	scaling *scaling // nil: none
	signal  *signal  // 4–20 mA conversion and fault bands; nil: none
}

func compilePoint(cp config.Point, devUnit int) (point, error) {
	p := point{id: cp.ID, invert: cp.Invert}
	var err error
	if p.unit, err = unitOf(cp.UnitID, devUnit); err != nil {
		return p, err
	}
	if p.table, err = lookup(tableNames, strings.ToLower(cp.Table), "holding", "table"); err != nil {
		return p, err
	}
	if p.kind, err = lookup(kindNames, strings.ToLower(cp.Type), "uint16", "type"); err != nil {
		return p, err
	}
	if p.order, err = lookup(orderNames, strings.ToUpper(cp.Order), "ABCD", "order"); err != nil {
		return p, err
	}
	if err = p.shape(cp); err != nil {
		return p, err
	}
	p.scaling = scalingOf(cp)
	if p.signal, err = compileSignal(cp); err != nil {
		return p, err
	}
	p.toFloat = p.scaling != nil || p.signal != nil
	return p, nil
}

// shape checks the kind against the table and sets the span.
func (p *point) shape(cp config.Point) error {
	p.n = p.kind.words()
	switch {
	case p.table.bits() && cp.Type == "":
		p.kind = kBool
	case p.table.bits() && p.kind != kBool:
		return fmt.Errorf("type %s cannot be read from the %s table", cp.Type, p.table)
	case p.kind == kBit && (cp.Bit < 0 || cp.Bit > 15):
		return fmt.Errorf("bit %d out of 0..15", cp.Bit)
	case p.kind == kString && (cp.Length < 1 || cp.Length > 125):
		return fmt.Errorf("string length %d out of 1..125 registers", cp.Length)
	}
	p.bit = uint8(cp.Bit)
	if p.kind == kString {
		p.n = cp.Length
	}
	if cp.Address < 0 || cp.Address+p.n > 1<<16 {
		return fmt.Errorf("address %d (+%d) out of 0..65535", cp.Address, p.n)
	}
	p.addr = uint16(cp.Address)
	return nil
}

func unitOf(pointUnit, devUnit int) (uint8, error) {
	u := pointUnit
	if u == 0 {
		u = devUnit
	}
	if u == 0 {
		u = 1
	}
	if u < 0 || u > 255 {
		return 0, fmt.Errorf("unit id %d out of 0..255", u)
	}
	return uint8(u), nil
}

func lookup[T any](m map[string]T, name, def, what string) (T, error) {
	if name == "" {
		name = def
	}
	v, ok := m[name]
	if !ok {
		return v, fmt.Errorf("unknown %s %q", what, name)
	}
	return v, nil
}

func scalingOf(cp config.Point) *scaling {
	s := scaling{scale: cp.Scale, offset: cp.Offset,
		rawMin: cp.RawMin, rawMax: cp.RawMax, engMin: cp.EngMin, engMax: cp.EngMax}
	if s.scale == 0 {
		s.scale = 1
	}
	if s.rawMax == s.rawMin && s.scale == 1 && s.offset == 0 {
		return nil
	}
	return &s
}
