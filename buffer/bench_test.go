package buffer_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"canary/buffer"
)

// benchOpts: a budget large enough that benchmarks never evict.
var benchOpts = buffer.Options{MaxBytes: 64 << 20, Boot: "bench"}

func benchRecords(n int) []buffer.Record {
	recs := make([]buffer.Record, n)
	for i := range recs {
		recs[i] = buffer.Record{Lane: buffer.LaneData, Payload: make([]byte, 200)}
	}
	return recs
}

// benchAppendAck measures the forwarder's steady state: append a batch,
// take it out, acknowledge it. Every Append and Ack is one commit.
func benchAppendAck(b *testing.B, ob buffer.Outbox, batch int) {
	recs := benchRecords(batch)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ob.Append(recs); err != nil {
			b.Fatal(err)
		}
		out, err := ob.Begin(batch)
		if err != nil {
			b.Fatal(err)
		}
		if err := ob.Ack(out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBoltAppendAck runs with real fsyncs in the test's temp dir:
// the figure is bounded by the disk, not the code.
func BenchmarkBoltAppendAck(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ob, err := buffer.OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), benchOpts)
			if err != nil {
				b.Fatal(err)
			}
			defer ob.Close()
			benchAppendAck(b, ob, batch)
		})
	}
}

// BenchmarkBoltAppendParallel shows group commit: concurrent single-record
// Appends share fsyncs.
func BenchmarkBoltAppendParallel(b *testing.B) {
	ob, err := buffer.OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), buffer.Options{Boot: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		recs := benchRecords(1)
		for pb.Next() {
			if _, err := ob.Append(recs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkMemoryAppendAck(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchAppendAck(b, buffer.NewMemory(benchOpts), batch)
		})
	}
}

// BenchmarkBoltAppendAckScans is the agent's real load: scans of 1,000
// points as the agent stores them (compact records of about 1,200
// bytes, 4 per scan), appended (one commit and fsync), handed out and
// acknowledged (another), a scan or 100 scans at a time.
func BenchmarkBoltAppendAckScans(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("scans=%d", batch), func(b *testing.B) {
			ob, err := buffer.OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), buffer.Options{MaxBytes: 256 << 20, Boot: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer ob.Close()
			sc := newScanner(1000)
			var recs []buffer.Record
			for i := range batch {
				r, _ := sc.records(time.UnixMilli(1_764_388_800_000 + int64(i)*1000))
				recs = append(recs, r...)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ob.Append(recs); err != nil {
					b.Fatal(err)
				}
				out, err := ob.Begin(len(recs))
				if err != nil {
					b.Fatal(err)
				}
				if err := ob.Ack(out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.N*batch*1000)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkBoltCommitLatency appends one record every 20 ms, 500 times
// (10 s), and reports how long each durable commit took: the disk's
// fsync, which every live record waits for before it is sent, sets the
// tail of the read→deliver latency (`-benchtime 1x`).
func BenchmarkBoltCommitLatency(b *testing.B) {
	ob, err := buffer.OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), benchOpts)
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	recs := benchRecords(1)
	var took []time.Duration
	for b.Loop() {
		for range 500 {
			t := time.Now()
			if _, err := ob.Append(recs); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(t))
			time.Sleep(20 * time.Millisecond)
		}
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
}
