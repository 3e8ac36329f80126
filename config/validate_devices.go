package config

import (
	"fmt"
	"slices"
)

var (
	drivers    = []string{"modbus", "opcua", "gpio"}
	transports = []string{"tcp", "rtu", "rtu-over-tcp"}
	tables     = []string{"coil", "discrete", "input", "holding"}
	types      = []string{"bit", "bool", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string"}
	orders     = []string{"ABCD", "CDAB", "BADC", "DCBA"}
	kinds      = []string{"analog", "fault", "maintenance", "interlock", "bypass", "status"}
	gases      = []string{"combustible", "oxygen", "toxic"}
)

// registers is how many 16-bit registers each fixed-size type spans.
var registers = map[string]int{
	"bit": 1, "bool": 1, "int16": 1, "uint16": 1,
	"int32": 2, "uint32": 2, "float32": 2,
	"int64": 4, "uint64": 4, "float64": 4,
}

// seen maps an id to the path of its first use, for duplicate messages.
type seen map[string]string

func (v *checker) unique(path, what, id string, first seen) {
	if id == "" {
		return
	}
	prev, dup := first[id]
	if !dup {
		first[id] = path
		return
	}
	where := v.c.pos.where(v.c.File, prev, path)
	v.errorf(path, "duplicate %s id %q (first at %s)", what, id, where)
}

func (v *checker) devices() {
	devs, points := seen{}, seen{}
	for i := range v.c.Devices {
		d, p := &v.c.Devices[i], indexPath("devices", i)
		v.device(p, d)
		v.unique(p+".id", "device", d.ID, devs)
		for j := range d.Points {
			pp := indexPath(p+".points", j)
			v.point(pp, d, &d.Points[j])
			v.unique(pp+".id", "point", d.Points[j].ID, points)
		}
	}
	v.references(points)
}

func (v *checker) device(p string, d *Device) {
	v.name(p+".id", d.ID)
	if d.Deadband < 0 {
		v.errorf(p+".deadband", "must not be negative, got %g", d.Deadband)
	}
	if !v.oneOf(p+".driver", "driver", d.Driver, drivers...) {
		return
	}
	if d.Driver == "gpio" {
		v.gpio(p, d)
		return
	}
	if d.Driver == "opcua" {
		v.opcua(p, d)
		return
	}
	if d.Driver != "modbus" {
		v.errorf(p+".driver", "driver %s is not supported in this version", d.Driver)
		return
	}
	v.modbus(p, d)
}

func (v *checker) modbus(p string, d *Device) {
	if !v.oneOf(p+".transport", "transport", d.Transport, transports...) {
		return
	}
	switch {
	case d.Address == "":
		v.errorf(p+".address", "required (host:port, or a serial device for rtu)")
	case d.Transport != "rtu" && !hostPort(d.Address):
		v.errorf(p+".address", "expected host:port for transport %s, got %q", d.Transport, d.Address)
	}
	if d.Transport == "rtu" {
		v.serial(p+".serial", d.Serial)
	}
	v.unitID(p+".unit_id", d.UnitID, d.Transport)
	v.positive(p+".interval", d.Interval)
	v.positive(p+".timeout", d.Timeout)
	v.intRange(p+".max_gap", d.MaxGap, 0, 124, " (a read spans at most 125 registers)")
	if d.BackoffMax < 0 {
		v.errorf(p+".backoff_max", "must not be negative")
	}
	switch {
	case d.Transport != "tcp" && d.MaxInflight > 1:
		v.errorf(p+".max_inflight", "only transport tcp can have requests in flight together (an RTU line carries one at a time)")
	default:
		v.intRange(p+".max_inflight", d.MaxInflight, 1, MaxModbusInflight, " (requests in flight on one Modbus TCP connection)")
	}
}

// MaxModbusInflight bounds devices[].max_inflight: servers that pipeline
// at all usually take 4 to 16 transactions.
const MaxModbusInflight = 16

func (v *checker) unitID(path string, id int, transport string) {
	if transport == "tcp" {
		v.intRange(path, id, 0, 255, "")
	} else {
		v.intRange(path, id, 1, 247, " (serial unit addresses)")
	}
}

func (v *checker) serial(p string, s Serial) {
	if s.Baud <= 0 {
		v.errorf(p+".baud", "must be more than 0, got %d", s.Baud)
	}
	v.oneOf(p+".parity", "parity", s.Parity, "N", "E", "O")
	v.intRange(p+".data_bits", s.DataBits, 7, 8, "")
	v.intRange(p+".stop_bits", s.StopBits, 1, 2, "")
}

func (v *checker) point(p string, d *Device, pt *Point) {
	if pt.ID == "" {
		v.errorf(p+".id", "required")
	}
	if v.oneOf(p+".kind", "kind", pt.Kind, kinds...) {
		needsOf := pt.Kind == "fault" || pt.Kind == "maintenance"
		if needsOf && pt.Of == "" {
			v.errorf(p+".of", "required for a %s point (the id of the point it qualifies)", pt.Kind)
		} else if !needsOf && pt.Of != "" {
			v.errorf(p+".of", "only fault and maintenance points qualify another point (kind is %s)", pt.Kind)
		}
	}
	if pt.Gas != "" {
		v.oneOf(p+".gas", "gas", pt.Gas, gases...)
	}
	v.safety(p, pt)
	if pt.Deadband != nil && *pt.Deadband < 0 {
		v.errorf(p+".deadband", "must not be negative, got %g", *pt.Deadband)
	}
	v.scaling(p, pt)
	v.signal(p, pt)
	v.alarms(p+".alarms", pt.Alarms)
	for k := range pt.Meta {
		if k == "" {
			v.errorf(p+".meta", "keys must not be empty")
		}
	}
	if d.Driver == "modbus" {
		v.modbusPoint(p, d, pt)
	}
	if d.Driver == "gpio" {
		v.gpioPoint(p, pt)
	}
	if d.Driver == "opcua" {
		v.opcuaPoint(p, pt)
	}
}

func (v *checker) scaling(p string, pt *Point) {
	if pt.Scale == 0 {
		v.errorf(p+".scale", "0 would turn every value into the offset; leave it out for 1")
	}
	// A raw range is in use when either end is non-zero; both 0 (as the
	// effective config prints them) means plain scale and offset.
	if pt.RawMin == 0 && pt.RawMax == 0 {
		return
	}
	if pt.RawMax == pt.RawMin {
		v.errorf(p+".raw_max", "must differ from raw_min (both %g): the raw range maps onto eng_min..eng_max", pt.RawMin)
	}
	if pt.EngMax == pt.EngMin {
		v.errorf(p+".eng_max", "must differ from eng_min (both %g) when raw_min/raw_max are set", pt.EngMin)
	}
}

func (v *checker) alarms(p string, a Alarms) {
	limits := []struct {
		name string
		val  *float64
	}{{"ll", a.LL}, {"l", a.L}, {"h", a.H}, {"hh", a.HH}}
	var prevName string
	var prev *float64
	for _, l := range limits {
		if l.val == nil {
			continue
		}
		if prev != nil && !(*prev < *l.val) {
			v.errorf(p+"."+l.name, "%s %g must be above %s %g (limits go ll < l < h < hh)", l.name, *l.val, prevName, *prev)
		}
		prevName, prev = l.name, l.val
	}
	if a.Hysteresis < 0 {
		v.errorf(p+".hysteresis", "must not be negative, got %g", a.Hysteresis)
	}
}

func (v *checker) modbusPoint(p string, d *Device, pt *Point) {
	if pt.UnitID != 0 {
		v.unitID(p+".unit_id", pt.UnitID, d.Transport)
	}
	okTable := v.oneOf(p+".table", "table", pt.Table, tables...)
	okType := v.oneOf(p+".type", "type", pt.Type, types...)
	v.oneOf(p+".order", "order", pt.Order, orders...)
	if !okTable || !okType {
		return
	}
	bits := pt.Table == "coil" || pt.Table == "discrete"
	switch {
	case bits && pt.Type != "bool":
		v.errorf(p+".type", "type %s cannot be read from table %s: coils and discrete inputs are single bits (use bool)", pt.Type, pt.Table)
	case pt.Type == "bit":
		v.intRange(p+".bit", pt.Bit, 0, 15, " (bits of a 16-bit register, LSB first)")
	case pt.Type == "string":
		v.intRange(p+".length", pt.Length, 1, 125, " (registers; a read spans at most 125)")
	}
	v.addressRange(p, pt)
}

func (v *checker) addressRange(p string, pt *Point) {
	if pt.Address < 0 || pt.Address > 65535 {
		v.errorf(p+".address", "%d is out of range 0..65535 (0-based protocol address)", pt.Address)
		return
	}
	n, ok := registers[pt.Type]
	if pt.Type == "string" {
		n, ok = pt.Length, pt.Length > 0
	}
	if last := pt.Address + n - 1; ok && last > 65535 {
		v.errorf(p+".address", "register range %d..%d is past the end of the address space (65535)", pt.Address, last)
	}
}

// references checks `of` once every point id is known, so a fault point
// may come before the point it qualifies.
func (v *checker) references(points seen) {
	ids := make([]string, 0, len(points))
	for id := range points {
		ids = append(ids, id)
	}
	slices.Sort(ids) // ties in suggestions resolve the same way every run
	for i, d := range v.c.Devices {
		for j, pt := range d.Points {
			if pt.Of == "" {
				continue
			}
			path := fmt.Sprintf("devices[%d].points[%d].of", i, j)
			switch _, ok := points[pt.Of]; {
			case pt.Of == pt.ID:
				v.errorf(path, "a point cannot qualify itself")
			case !ok:
				msg := fmt.Sprintf("no point with id %q", pt.Of)
				if s := suggest(pt.Of, ids); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				v.errorf(path, "%s", msg)
			}
		}
	}
}
