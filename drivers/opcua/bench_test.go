package opcua

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"canary/config"
	"canary/drivers"
	"canary/drivers/opcua/opcuatest"
)

// BenchmarkNotifications subscribes to 5,000 monitored items in one
// session, checks every initial value arrives, then measures data-change
// samples per second from server change to a counting emit.
//
//	go test -run '^$' -bench Notifications -benchtime 20000x ./drivers/opcua
func BenchmarkNotifications(b *testing.B) {
	const items = 5000
	srv, points := benchServer(b, items)
	d := config.Device{ID: "bench", Endpoint: srv.URL, Security: config.OPCUASecurity{Mode: "None"},
		Timeout: config.Duration(10 * time.Second), Interval: config.Duration(5 * time.Second),
		PublishInterval: config.Duration(20 * time.Millisecond), Points: points}
	s, err := New(d, drivers.Env{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	var got, scans, offline atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, func(sc drivers.Scan) {
			scans.Add(1)
			if sc.Err != nil {
				offline.Add(1)
			}
			got.Add(int64(len(sc.Samples)))
		})
	}()
	defer func() { cancel(); <-done }()
	// The read after connect (5000) and the initial notification of every
	// item (5000).
	waitFor(b, func() bool { return s.Notifications() >= items }, 60*time.Second, "initial notifications")
	if offline.Load() > 0 {
		b.Fatalf("%d offline scans during setup", offline.Load())
	}
	base := s.Notifications()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		srv.Set(fmt.Sprintf("v%04d", i%items), float64(i+1), time.Now())
	}
	// Changes of one item within one publishing interval are merged by
	// the server (queue size 1), so wait for the count to settle.
	last, stable := int64(-1), 0
	for stable < 10 {
		time.Sleep(20 * time.Millisecond)
		if n := s.Notifications(); n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	elapsed := time.Since(start) - 200*time.Millisecond
	b.StopTimer()
	n := s.Notifications() - base
	b.ReportMetric(items, "items/session")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "notifs/s")
	b.ReportMetric(float64(n)/float64(b.N), "delivered/change")
}

func waitFor(b *testing.B, ok func() bool, d time.Duration, what string) {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// benchServer serves items float variables v0000… and returns the
// points that read them by namespace URI.
func benchServer(b *testing.B, items int) (*opcuatest.Server, []config.Point) {
	vars := make(map[string]any, items)
	points := make([]config.Point, items)
	for i := range items {
		name := fmt.Sprintf("v%04d", i)
		vars[name] = float64(0)
		points[i] = config.Point{ID: name, Node: "nsu=" + opcuatest.NamespaceURI + ";s=" + name}
	}
	return opcuatest.Start(b, opcuatest.Options{Vars: vars}), points
}
