package modbustest

import (
	"testing"
	"time"

	sv "github.com/simonvetter/modbus"
)

// TestWritesRefusedAndCounted guards the counter the driver's tests rely on
// to prove Canary never writes.
func TestWritesRefusedAndCounted(t *testing.T) {
	s := Start(t)
	s.SetHolding(1, 4, 77)
	c, err := sv.NewClient(&sv.ClientConfiguration{URL: "tcp://" + s.Addr(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteRegister(4, 1); err == nil {
		t.Error("write accepted")
	}
	if err := c.WriteCoil(0, true); err == nil {
		t.Error("coil write accepted")
	}
	if got := s.Writes(); got != 2 {
		t.Errorf("Writes() = %d, want 2", got)
	}
	if v, err := c.ReadRegister(4, sv.HOLDING_REGISTER); err != nil || v != 77 {
		t.Errorf("read back %d, %v", v, err)
	}
}
