package modbustest

import (
	"time"

	sv "github.com/simonvetter/modbus"
)

// handler serves the library's callbacks from the Server's tables.
type handler struct{ s *Server }

var exceptions = map[byte]error{
	1: sv.ErrIllegalFunction, 2: sv.ErrIllegalDataAddress, 3: sv.ErrIllegalDataValue,
	4: sv.ErrServerDeviceFailure, 5: sv.ErrAcknowledge, 6: sv.ErrServerDeviceBusy,
	8: sv.ErrMemoryParityError, 0x0A: sv.ErrGWPathUnavailable, 0x0B: sv.ErrGWTargetFailedToRespond,
}

// admit counts a request, applies delay and dead-unit holds, and returns the
// exception to answer with, if any.
func (h handler) admit(unit uint8, write bool) error {
	h.s.requests.Add(1)
	if write {
		h.s.writes.Add(1)
		return sv.ErrIllegalFunction
	}
	h.hold(unit)
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if code := h.s.exc[unit]; code != 0 {
		if err, ok := exceptions[code]; ok {
			return err
		}
		return sv.ErrServerDeviceFailure
	}
	return nil
}

// hold waits out the delay, and for as long as the unit is dead.
func (h handler) hold(unit uint8) {
	end := time.Now().Add(deadHold)
	for time.Now().Before(end) {
		h.s.mu.Lock()
		delay, dead, wake, up := h.s.delay, h.s.dead[unit], h.s.wake, h.s.srv != nil
		h.s.mu.Unlock()
		if !up || (!dead && delay == 0) {
			return
		}
		if !dead {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-wake:
			}
			return
		}
		<-wake
	}
}

func (h handler) HandleCoils(req *sv.CoilsRequest) ([]bool, error) {
	if err := h.admit(req.UnitId, req.IsWrite); err != nil {
		return nil, err
	}
	return h.bits(Coil, req.UnitId, req.Addr, req.Quantity), nil
}

func (h handler) HandleDiscreteInputs(req *sv.DiscreteInputsRequest) ([]bool, error) {
	if err := h.admit(req.UnitId, false); err != nil {
		return nil, err
	}
	return h.bits(Discrete, req.UnitId, req.Addr, req.Quantity), nil
}

func (h handler) HandleHoldingRegisters(req *sv.HoldingRegistersRequest) ([]uint16, error) {
	if err := h.admit(req.UnitId, req.IsWrite); err != nil {
		return nil, err
	}
	return h.regs(Holding, req.UnitId, req.Addr, req.Quantity), nil
}

func (h handler) HandleInputRegisters(req *sv.InputRegistersRequest) ([]uint16, error) {
	if err := h.admit(req.UnitId, false); err != nil {
		return nil, err
	}
	return h.regs(Input, req.UnitId, req.Addr, req.Quantity), nil
}

func (h handler) regs(t Table, unit uint8, addr, qty uint16) []uint16 {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	src := h.s.unit(unit).regs[t-Input]
	return append([]uint16(nil), src[addr:int(addr)+int(qty)]...)
}

func (h handler) bits(t Table, unit uint8, addr, qty uint16) []bool {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	src := h.s.unit(unit).bits[t]
	return append([]bool(nil), src[addr:int(addr)+int(qty)]...)
}
