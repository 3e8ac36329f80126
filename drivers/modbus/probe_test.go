package modbus

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"canary/drivers/modbus/modbustest"
)

func runProbe(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := Probe(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func wantAll(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("output lacks %q:\n%s", p, out)
		}
	}
}

func TestProbeReadDecodings(t *testing.T) {
	srv := modbustest.Start(t)
	rot, rotAddr := modbustest.StartRTUOverTCP(t)
	for _, tc := range []struct {
		name, flag, addr string
		s                *modbustest.Server
	}{{"tcp", "--tcp", srv.Addr(), srv}, {"rtu-over-tcp", "--rtu-over-tcp", rotAddr, rot.Server}} {
		t.Run(tc.name, func(t *testing.T) {
			// 25.5 as float32 ABCD = 0x41CC 0x0000; 0x4142 "AB"; -2 as int16.
			tc.s.SetHolding(3, 100, 0x41CC, 0x0000, 0x4142, 0xFFFE)
			code, out, errOut := runProbe(t, tc.flag, tc.addr, "--unit", "3", "--address", "100", "--count", "4")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			wantAll(t, out,
				"0x41CC", "16844", // uint16 of reg 100
				"0xFFFE", "65534", "-2", // uint16 and int16 of reg 103
				"25.5",       // float32 ABCD at 100
				"1103888384", // int32/uint32 ABCD at 100
				"AB",         // ascii of reg 102
				"float64 starting at each address",
				"register 101..104 in 1-based numbering", "40101..40104 in Modicon numbering",
				"means address: 100")
			// CDAB at 101: words 0x0000 0x4142 swapped -> 0x41420000 = 12.125
			wantAll(t, out, "12.125")
		})
	}
}

func TestProbeInputAndBits(t *testing.T) {
	srv := modbustest.Start(t)
	srv.SetInput(1, 7, 0x0102)
	code, out, _ := runProbe(t, "--tcp", srv.Addr(), "--table", "input", "--address", "7", "--count", "1")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	wantAll(t, out, "0x0102", "258", "30008..30008", "FC 04")
	srv.SetCoil(1, 5, true)
	code, out, _ = runProbe(t, "--tcp", srv.Addr(), "--table", "coil", "--address", "4", "--count", "3")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	wantAll(t, out, "4      0", "5      1", "6      0", "00005..00007")
}

func TestProbeScanUnits(t *testing.T) {
	srv := modbustest.Start(t)
	rot, rotAddr := modbustest.StartRTUOverTCP(t)
	for _, s := range []*modbustest.Server{srv, rot.Server} {
		for u := uint8(1); u <= 6; u++ {
			s.SetUnitDead(u, u != 2 && u != 5)
		}
		s.SetException(5, 2)
	}
	for _, tc := range []struct{ flag, addr string }{{"--tcp", srv.Addr()}, {"--rtu-over-tcp", rotAddr}} {
		start := time.Now()
		code, out, errOut := runProbe(t, tc.flag, tc.addr, "--scan-units", "1-6", "--scan-timeout", "100ms")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s\n%s", tc.flag, code, errOut, out)
		}
		wantAll(t, out, "unit 2: answers", "unit 5: exception 02 (illegal data address)", "answering units: 2, 5")
		if strings.Contains(out, "unit 1:") || strings.Contains(out, "unit 3:") {
			t.Errorf("%s: a dead unit is listed:\n%s", tc.flag, out)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: scan of 6 units took %v (bounded by 6 x 100ms plus reconnects)", tc.flag, d)
		}
	}
	for _, s := range []*modbustest.Server{srv, rot.Server} {
		for u := uint8(1); u <= 6; u++ {
			s.SetUnitDead(u, false)
		}
	}
}

func TestProbeFailures(t *testing.T) {
	srv := modbustest.Start(t)
	for _, args := range [][]string{
		{},
		{"--tcp", srv.Addr(), "--rtu", "/dev/ttyS1"},
		{"--tcp", "nohostport"},
		{"--tcp", srv.Addr(), "--table", "holdings"},
		{"--tcp", srv.Addr(), "--count", "126"},
		{"--tcp", srv.Addr(), "--address", "65535", "--count", "2"},
		{"--rtu", "/dev/null", "--parity", "X"},
		{"--tcp", srv.Addr(), "--scan-units", "0-300"},
		{"--tcp", srv.Addr(), "extra"},
	} {
		if code, _, _ := runProbe(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage)", args, code)
		}
	}
	srv.SetUnitDead(9, true)
	code, _, errOut := runProbe(t, "--tcp", srv.Addr(), "--unit", "9", "--timeout", "100ms")
	srv.SetUnitDead(9, false)
	if code != 1 || !strings.Contains(errOut, "timeout") {
		t.Errorf("dead unit: exit %d, %q; want 1 and a timeout", code, errOut)
	}
	addr := srv.Addr()
	srv.Stop()
	if code, _, _ := runProbe(t, "--tcp", addr, "--timeout", "200ms"); code != 1 {
		t.Errorf("stopped server: exit %d, want 1", code)
	}
	if srv.Writes() != 0 {
		t.Errorf("the probe wrote %d times", srv.Writes())
	}
}
