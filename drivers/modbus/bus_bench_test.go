package modbus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"canary/agent/clock"
	"canary/config"
	"canary/drivers"
	"canary/drivers/modbus/modbustest"
)

// BenchmarkBus8x10 polls 8 units × 10 holding registers back to back on
// one bus and reports scans/s. The wire-time limit at 9600 baud 8N1 is
// 8+25 bytes per transaction plus two 3.5-character gaps: 40 characters
// × 10 bits / 9600 = 41.7 ms, 24 scans/s. A pty carries bytes at memory
// speed whatever the baud rate, so the "paced" case has the slave wait
// the wire time of request and reply before answering, as a real line
// would; "raw" is the pty unpaced (the driver's own cost).
func BenchmarkBus8x10(b *testing.B) {
	cases := []struct {
		name, transport string
		start           func(b *testing.B) string
	}{
		{"tcp", "tcp", func(b *testing.B) string { return modbustest.Start(b).Addr() }},
		{"rtu-over-tcp", "rtu-over-tcp", func(b *testing.B) string { _, a := modbustest.StartRTUOverTCP(b); return a }},
		{"rtu-pty-raw", "rtu", func(b *testing.B) string { _, a := modbustest.StartRTUOnPty(b); return a }},
		{"rtu-pty-paced-9600", "rtu", func(b *testing.B) string {
			s, a := modbustest.StartRTUOnPty(b)
			s.Baud = 9600
			return a
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			addr := c.start(b)
			var devs []config.Device
			for u := 1; u <= 8; u++ {
				devs = append(devs, rtuDevice(fmt.Sprintf("u%d", u), c.transport, addr, u,
					config.Point{ID: fmt.Sprintf("u%d.a", u), Address: 0}, config.Point{ID: fmt.Sprintf("u%d.b", u), Address: 9}))
			}
			bus, err := NewBus(devs, drivers.Env{Clock: clock.Real{}})
			if err != nil {
				b.Fatal(err)
			}
			conn := bus.newConn()
			defer conn.close()
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				for _, u := range bus.units {
					if s := u.src.poll(ctx, conn); s.Err != nil {
						b.Fatal(s.Err)
					}
				}
			}
			b.ReportMetric(float64(8*b.N)/time.Since(start).Seconds(), "scans/s")
		})
	}
}
