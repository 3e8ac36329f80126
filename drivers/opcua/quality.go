package opcua

import (
	"fmt"
	"time"

	"github.com/gopcua/opcua/ua"

	"canary/drivers"
)

// severity is the top two bits of a status code: 00 good, 01 uncertain,
// 10 bad. The low 16 bits are info bits and never change the meaning.
func severity(st ua.StatusCode) drivers.Quality {
	switch uint32(st) >> 30 {
	case 0:
		return drivers.Good
	case 1:
		return drivers.Uncertain
	}
	return drivers.Bad
}

// reasons maps status codes (info bits cleared) to a precise reason.
// Bad codes not listed are communication problems; Uncertain codes not
// listed are the device doubting its own value.
var reasons = map[ua.StatusCode]drivers.Reason{
	ua.StatusBadNodeIDUnknown:                        drivers.ReasonConfig,
	ua.StatusBadNodeIDInvalid:                        drivers.ReasonConfig,
	ua.StatusBadTypeMismatch:                         drivers.ReasonConfig,
	ua.StatusBadAttributeIDInvalid:                   drivers.ReasonConfig,
	ua.StatusBadNotReadable:                          drivers.ReasonConfig,
	ua.StatusBadUserAccessDenied:                     drivers.ReasonConfig,
	ua.StatusBadMonitoredItemFilterUnsupported:       drivers.ReasonConfig,
	ua.StatusBadFilterNotAllowed:                     drivers.ReasonConfig,
	ua.StatusBadDeadbandFilterInvalid:                drivers.ReasonConfig,
	ua.StatusBadSensorFailure:                        drivers.ReasonSensorFault,
	ua.StatusBadDeviceFailure:                        drivers.ReasonSensorFault,
	ua.StatusBadOutOfRange:                           drivers.ReasonOutOfRange,
	ua.StatusBadOutOfService:                         drivers.ReasonMaintenance,
	ua.StatusUncertainEngineeringUnitsExceeded:       drivers.ReasonOutOfRange,
	ua.StatusUncertainLastUsableValue:                drivers.ReasonComm,
	ua.StatusUncertainNoCommunicationLastUsableValue: drivers.ReasonComm,
}

// classify maps an OPC UA status code to a quality and, when not good, a
// reason.
func classify(st ua.StatusCode) (drivers.Quality, drivers.Reason) {
	q := severity(st)
	if q == drivers.Good {
		return q, drivers.ReasonNone
	}
	if r, ok := reasons[st&0xFFFF0000]; ok {
		return q, r
	}
	if q == drivers.Uncertain {
		return q, drivers.ReasonSensorFault
	}
	return q, drivers.ReasonComm
}

// sample turns a DataValue into a Sample. The timestamp is the server's
// source timestamp, else its server timestamp, else now: device time wins.
// A value that is not Good-or-Uncertain carries no value: never invent one.
func sample(p *point, dv *ua.DataValue, now time.Time) drivers.Sample {
	s := drivers.Sample{Point: p.id, TS: now}
	if dv == nil {
		s.Quality, s.Reason = drivers.Bad, drivers.ReasonComm
		return s
	}
	switch {
	case !dv.SourceTimestamp.IsZero():
		s.TS = dv.SourceTimestamp
	case !dv.ServerTimestamp.IsZero():
		s.TS = dv.ServerTimestamp
	}
	s.Quality, s.Reason = classify(dv.Status)
	if s.Quality == drivers.Bad {
		return s
	}
	v, err := value(dv.Value)
	if err != nil {
		s.Quality, s.Reason = drivers.Bad, drivers.ReasonConfig
		return s
	}
	if p.invert && v.Kind() == drivers.KindBool {
		v = drivers.Bool(!v.Bool())
	}
	s.Value = v
	return s
}

// value converts the scalar types a SIS or interlock point can have.
func value(v *ua.Variant) (drivers.Value, error) {
	if v == nil {
		return drivers.Value{}, fmt.Errorf("opcua: no value")
	}
	switch x := v.Value().(type) {
	case bool:
		return drivers.Bool(x), nil
	case int8:
		return drivers.Int(int64(x)), nil
	case int16:
		return drivers.Int(int64(x)), nil
	case int32:
		return drivers.Int(int64(x)), nil
	case int64:
		return drivers.Int(x), nil
	case uint8:
		return drivers.Uint(uint64(x)), nil
	case uint16:
		return drivers.Uint(uint64(x)), nil
	case uint32:
		return drivers.Uint(uint64(x)), nil
	case uint64:
		return drivers.Uint(x), nil
	case float32:
		return drivers.Float(float64(x)), nil
	case float64:
		return drivers.Float(x), nil
	case string:
		return drivers.String(x), nil
	case *ua.LocalizedText:
		return drivers.String(x.Text), nil
	case time.Time:
		return drivers.Int(x.UnixMilli()), nil
	}
	return drivers.Value{}, fmt.Errorf("opcua: unsupported type %T", v.Value())
}
