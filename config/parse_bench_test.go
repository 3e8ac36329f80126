package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkParse10000Points parses a config of one device with 10,000
// inline points, as a large rack is written, and reports the heap it
// leaves (the parsed config) and what parsing allocates on the way (the
// start-up peak of the agent comes from here).
func BenchmarkParse10000Points(b *testing.B) {
	var y strings.Builder
	y.WriteString("version: 1\nsite: {id: s1, gateway: g}\nplatform: {mqtt: {url: tls://b.example:8883}}\n" +
		"devices:\n  - id: rack\n    driver: modbus\n    address: 10.0.0.5:502\n    points:\n")
	for i := range 10000 {
		fmt.Fprintf(&y, "      - {id: P%05d, table: holding, address: %d, type: uint16}\n", i, i)
	}
	data := []byte(y.String())
	b.ReportAllocs()
	var kept uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c, err := Parse("rack.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(c)
	}
	b.ReportMetric(float64(kept)/10000, "kept-B/point")
	b.ReportMetric(float64(len(data))/10000, "yaml-B/point")
}
