package modbus

import (
	"errors"
	"fmt"
	"strings"

	gb "github.com/goburrow/modbus"
)

// Sentinel errors. A Scan's Err wraps one of them (or a network error) in a
// *CommError naming the device and unit.
var (
	// ErrTimeout: the peer did not answer within the device timeout.
	ErrTimeout = errors.New("modbus: timeout")
	// ErrBadReply: a reply that does not match its request (length, byte
	// count, function code). The connection is closed after it.
	ErrBadReply = errors.New("modbus: reply does not match request")
	// ErrNotConnected: a read was attempted without a connection.
	ErrNotConnected = errors.New("modbus: not connected")
	// ErrCanceled: the context ended the exchange.
	ErrCanceled = errors.New("modbus: canceled")
	// ErrNotSupported: a configured transport this build cannot speak yet.
	ErrNotSupported = errors.New("modbus: not supported yet")
	// ErrBackedOff: the unit is not asked until its back-off ends; the
	// scan reports the failure that started it when known.
	ErrBackedOff = errors.New("modbus: backing off after a failure")
	// ErrConfig: a device or point Open cannot read as configured.
	ErrConfig = errors.New("modbus: invalid config")
)

// CommError is a communication failure with one unit of one device.
type CommError struct {
	Device string
	Unit   uint8
	Err    error
}

func (e *CommError) Error() string {
	return fmt.Sprintf("modbus: %s unit %d: %s", e.Device, e.Unit, strings.TrimPrefix(e.Err.Error(), "modbus: "))
}

func (e *CommError) Unwrap() error { return e.Err }

// Exception classes, by what they say about the points asked for.
func exceptionReason(err error) (config bool) {
	var me *gb.ModbusError
	if !errors.As(err, &me) {
		return false
	}
	switch me.ExceptionCode {
	case gb.ExceptionCodeIllegalFunction, gb.ExceptionCodeIllegalDataAddress, gb.ExceptionCodeIllegalDataValue:
		return true // the point map asks for something the device does not have
	}
	return false // busy, gateway path/target, device failure: the read failed
}
