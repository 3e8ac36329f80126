package buffer_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
)

// scanner makes scans as the pipeline encodes them: n points, readings
// that wander with two decimals, now and then a bad sample.
type scanner struct {
	rng    *rand.Rand
	values []float64
	buf    []drivers.Sample
}

func newScanner(n int) *scanner {
	s := &scanner{rng: rand.New(rand.NewPCG(1, 2)), values: make([]float64, n), buf: make([]drivers.Sample, n)}
	for i := range s.values {
		s.values[i] = s.rng.Float64() * 50
	}
	return s
}

func (s *scanner) body(ts time.Time) []byte {
	for i := range s.buf {
		s.values[i] += s.rng.NormFloat64() * 0.05
		v := float64(int64(s.values[i]*100)) / 100
		s.buf[i] = drivers.Sample{Point: fmt.Sprintf("GT-%04d", 1000+i), TS: ts, Value: drivers.Float(v)}
		if s.rng.IntN(500) == 0 {
			s.buf[i] = drivers.Sample{Point: s.buf[i].Point, TS: ts, Quality: drivers.Bad, Reason: drivers.ReasonComm}
		}
	}
	return wire.AppendSamples(nil, true, s.buf)
}

// agentBody is agent.maxDataBody: the agent cuts a scan into compact
// bodies of about this size.
const agentBody = 1200

// records are the scan as the agent stores it: compact bodies, and the
// JSON the platform will receive for them (to compare sizes).
func (s *scanner) records(ts time.Time) (recs []buffer.Record, jsonBytes int) {
	s.body(ts) // the next readings, in s.buf
	var e wire.DataEncoder
	e.Split(drivers.Refs(s.buf), false, agentBody, func(b []byte) {
		recs = append(recs, buffer.Record{Lane: buffer.LaneData, Payload: append([]byte(nil), b...)})
	})
	return recs, len(wire.AppendSamples(nil, false, s.buf))
}

// BenchmarkStoredBytesPerSample: what one sample costs in the outbox, by
// scan size, with and without compression: stored bytes (what the budget
// counts, plus RecordOverhead per record) and file bytes after an hour
// of scans at 1 s.
func BenchmarkStoredBytesPerSample(b *testing.B) {
	for _, points := range []int{1, 10, 200, 1000} {
		for _, compress := range []bool{false, true} {
			b.Run(fmt.Sprintf("points=%d/compress=%t", points, compress), func(b *testing.B) {
				var payload, charged, file int64
				samples := 0
				for b.Loop() {
					box, err := buffer.OpenBolt(filepath.Join(fastDir(b), "outbox.db"), buffer.Options{MaxBytes: 1 << 30, Compress: compress})
					if err != nil {
						b.Fatal(err)
					}
					sc := newScanner(points)
					t0 := time.UnixMilli(1_764_388_800_000)
					payload, samples = 0, 0
					for sec := 0; sec < 3600; sec += 60 {
						recs := make([]buffer.Record, 60)
						for i := range recs {
							recs[i] = buffer.Record{Lane: buffer.LaneData, Payload: sc.body(t0.Add(time.Duration(sec+i) * time.Second))}
							payload += int64(len(recs[i].Payload))
						}
						if _, err := box.Append(recs); err != nil {
							b.Fatal(err)
						}
						samples += 60 * points
					}
					st := box.Stats()
					charged = st.Lanes[buffer.LaneData].Bytes + int64(st.Lanes[buffer.LaneData].Depth)*buffer.RecordOverhead
					file = st.Bytes
					box.Close()
				}
				b.ReportMetric(float64(payload)/float64(samples), "json_bytes/sample")
				b.ReportMetric(float64(charged)/float64(samples), "budget_bytes/sample")
				b.ReportMetric(float64(file)/float64(samples), "file_bytes/sample")
			})
		}
	}
}

// BenchmarkDiskWritesLinkUp: bytes the process writes to the disk (from
// /proc/self/io write_bytes, real fsyncs in the test's temp dir) per hour
// at 1,000 samples/s with the link up: each scan is appended as the agent
// stores it (compact bodies of about 1,200 bytes, one commit), handed out
// and acknowledged (another commit, or with ack_delay, as the agent runs,
// part of the next append's), as the forwarder does. One iteration
// is one second of scans; the figure is scaled to an hour. Compare
// disk_MB/h with stored_MB/h (the records) and json_MB/h (what the
// platform receives).
func BenchmarkDiskWritesLinkUp(b *testing.B) {
	for _, c := range []struct {
		points, perSecond int
		ackDelay          time.Duration // the agent's: 2 s, acks commit with the next append
	}{{1000, 1, 0}, {200, 5, 0}, {100, 10, 0}, {1000, 1, 2 * time.Second}, {200, 5, 2 * time.Second}, {100, 10, 2 * time.Second}} {
		b.Run(fmt.Sprintf("points=%d/scans_per_s=%d/ack_delay=%v", c.points, c.perSecond, c.ackDelay), func(b *testing.B) {
			box, err := buffer.OpenBolt(filepath.Join(b.TempDir(), "outbox.db"), buffer.Options{MaxBytes: 256 << 20, AckDelay: c.ackDelay})
			if err != nil {
				b.Fatal(err)
			}
			defer box.Close()
			sc := newScanner(c.points)
			t0 := time.Now()
			var stored, payload, secs int64
			before := writeBytes(b)
			for b.Loop() {
				for i := range c.perSecond {
					recs, js := sc.records(t0.Add(time.Duration(secs)*time.Second + time.Duration(i)*time.Second/time.Duration(c.perSecond)))
					payload += int64(js)
					for _, r := range recs {
						stored += int64(len(r.Payload))
					}
					if _, err := box.Append(recs); err != nil {
						b.Fatal(err)
					}
					out, err := box.Begin(len(recs) + 10)
					if err != nil {
						b.Fatal(err)
					}
					if err := box.Ack(out); err != nil {
						b.Fatal(err)
					}
				}
				secs++
			}
			if err := box.Flush(); err != nil {
				b.Fatal(err)
			}
			written := writeBytes(b) - before
			b.ReportMetric(float64(written)/float64(secs)*3600/1e6, "disk_MB/h")
			b.ReportMetric(float64(stored)/float64(secs)*3600/1e6, "stored_MB/h")
			b.ReportMetric(float64(payload)/float64(secs)*3600/1e6, "json_MB/h")
			b.ReportMetric(float64(written)/float64(payload), "disk/json")
		})
	}
}

func writeBytes(b *testing.B) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skip("no write_bytes in /proc/self/io")
	return 0
}
