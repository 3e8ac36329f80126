package modbus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"canary/config"
	"canary/drivers"
	"canary/drivers/modbus/modbustest"
)

func BenchmarkDecodeFloat32(b *testing.B) {
	p := mustPoint(b, config.Point{Type: "float32", Order: "CDAB", Scale: 0.5})
	regs := []byte{0x00, 0x00, 0x41, 0xb4}
	b.ReportAllocs()
	for b.Loop() {
		if rd := decodeRegs(&p, regs); rd.q != drivers.Good {
			b.Fatal(rd)
		}
	}
}

// BenchmarkPoll2000Points polls a loopback simulated device holding 1000
// uint16 and 1000 float32 points (3000 registers, 24 requests).
func BenchmarkPoll2000Points(b *testing.B) {
	srv := modbustest.Start(b)
	var points []config.Point
	for i := 0; i < 1000; i++ {
		points = append(points, config.Point{ID: "u", Address: i}, config.Point{ID: "f", Address: 1000 + 2*i, Type: "float32"})
		srv.SetFloat32(modbustest.Holding, 1, uint16(1000+2*i), float32(i), "ABCD")
	}
	src, err := New(config.Device{ID: "bench", Address: srv.Addr(), Timeout: config.Duration(5 * time.Second), Points: points}, drivers.Env{})
	if err != nil {
		b.Fatal(err)
	}
	c := src.newConn()
	defer c.close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if s := src.poll(ctx, c); s.Err != nil {
			b.Fatal(s.Err)
		}
	}
	b.ReportMetric(float64(b.N*len(points))/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(len(src.reqs)), "requests/poll")
}

// BenchmarkSettle10000 decodes the replies of a rack of 10,000 uint16
// points into samples, without the network: the driver's share of the
// per-sample cost.
func BenchmarkSettle10000(b *testing.B) {
	var points []config.Point
	for i := range 10000 {
		points = append(points, config.Point{ID: fmt.Sprintf("GT-%04d", i), Address: i})
	}
	src, err := New(config.Device{ID: "bench", Address: "127.0.0.1:1", Points: points}, drivers.Env{})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 2*125)
	for i := range data {
		data[i] = byte(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range src.reqs {
			src.settle(&src.reqs[i], data[:2*src.reqs[i].qty], nil)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(points)), "ns/sample")
}
