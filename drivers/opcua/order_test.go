package opcua

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"

	"canary/config"
	"canary/drivers"
	"canary/drivers/opcua/opcuatest"
)

// The gopcua server sends a subscription's changes in map order; the
// driver hands them on in config order (the outbox's compact records
// then share most of each id with the one before: 9.1 → 5.0 bytes a
// sample in BenchmarkNotificationsToOutbox).
func TestNotificationSamplesInConfigOrder(t *testing.T) {
	const n = 40
	vs := map[string]any{}
	var pts []config.Point
	for i := range n {
		name := fmt.Sprintf("v%02d", i)
		vs[name] = 0.0
		pts = append(pts, config.Point{ID: fmt.Sprintf("P%02d", i), Node: "nsu=" + opcuatest.NamespaceURI + ";s=" + name})
	}
	srv := opcuatest.Start(t, opcuatest.Options{Vars: vs})
	_, scans := run(t, srv, func(d *config.Device) { d.Points = pts }, t.TempDir())
	await(t, scans, "the read after connect", func(sc drivers.Scan) bool { return sc.Err == nil && len(sc.Samples) == n })
	now := time.Now()
	for i := n - 1; i >= 0; i-- {
		srv.Set(fmt.Sprintf("v%02d", i), 1.0, now)
	}
	seen, multi := map[string]bool{}, 0
	await(t, scans, "every change", func(sc drivers.Scan) bool {
		for k, s := range sc.Samples {
			if s.Value.Float() == 1 {
				seen[s.Point] = true
			}
			if k > 0 && s.Point < sc.Samples[k-1].Point {
				t.Fatalf("a notification's samples out of config order: %s after %s", s.Point, sc.Samples[k-1].Point)
			}
		}
		if len(sc.Samples) > 1 {
			multi++
		}
		return len(seen) == n
	})
	if multi == 0 {
		t.Fatal("every notification held one sample: the order was not tested")
	}
}

// byHandle sorts a notification by counting when it holds many of the
// points and by comparison when it holds few of many; both paths run here
// (n = 8 counts, n = 1<<16 compares).
func TestByHandle(t *testing.T) {
	item := func(h uint32, v float64) *ua.MonitoredItemNotification {
		return &ua.MonitoredItemNotification{ClientHandle: h, Value: &ua.DataValue{Value: ua.MustVariant(v)}}
	}
	for _, n := range []int{8, 1 << 16} {
		t.Run(fmt.Sprintf("points=%d", n), func(t *testing.T) {
			var o handleOrder
			// Two values of handle 1 (queue_size > 1) keep their order; a
			// nil item and a handle beyond the points go.
			in := []*ua.MonitoredItemNotification{item(3, 30), item(1, 10), nil, item(uint32(n)+2, 70), item(1, 11), item(0, 0)}
			got := o.byHandle(in, n)
			want := []float64{0, 10, 11, 30}
			if len(got) != len(want) {
				t.Fatalf("%d items, want %d", len(got), len(want))
			}
			for i, it := range got {
				if v := it.Value.Value.Float(); v != want[i] {
					t.Errorf("item %d = %v, want %v", i, v, want[i])
				}
			}
			// In order already: the same slice, not a copy.
			sorted := []*ua.MonitoredItemNotification{item(0, 0), item(2, 2), item(2, 3), item(4, 4)}
			if got := o.byHandle(sorted, n); len(got) != 4 || &got[0] != &sorted[0] {
				t.Error("an ordered notification was copied")
			}
			// A smaller notification after a bigger one keeps nothing of it.
			got = o.byHandle([]*ua.MonitoredItemNotification{item(4, 4), item(2, 2)}, n)
			if len(got) != 2 || got[0].ClientHandle != 2 || got[1].ClientHandle != 4 {
				t.Fatalf("got %v", got)
			}
			for _, it := range o.out[len(got):cap(o.out)] {
				if it != nil {
					t.Error("the buffer still holds an item of an older notification")
				}
			}
		})
	}
}

// Either sort, on random notifications (repeated handles, nil items,
// handles beyond the points), gives what a plain stable sort of the
// valid items gives.
func TestByHandleMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	var o handleOrder
	for round := range 2000 {
		n := 1 + rng.IntN(3000)
		k := rng.IntN(200)
		if round%4 == 0 {
			k = rng.IntN(4 * n)
		}
		items := make([]*ua.MonitoredItemNotification, k)
		var want []*ua.MonitoredItemNotification
		for i := range items {
			switch r := rng.IntN(50); {
			case r == 0:
				continue // nil
			case r == 1:
				items[i] = &ua.MonitoredItemNotification{ClientHandle: uint32(n + rng.IntN(10))}
			default:
				items[i] = &ua.MonitoredItemNotification{ClientHandle: uint32(rng.IntN(n))}
				want = append(want, items[i])
			}
		}
		slices.SortStableFunc(want, func(a, b *ua.MonitoredItemNotification) int {
			return int(a.ClientHandle) - int(b.ClientHandle)
		})
		got := o.byHandle(items, n)
		if !slices.Equal(got, want) { // the same pointers in the same order
			t.Fatalf("round %d (%d items, %d points): got %d items, want %d, or another order", round, k, n, len(got), len(want))
		}
	}
}

// BenchmarkByHandle orders a notification of k items out of order on a
// subscription of n points, as the driver does for every notification.
//
//	go test ./drivers/opcua -run '^$' -bench ByHandle -benchmem
func BenchmarkByHandle(b *testing.B) {
	for _, n := range []int{5000, 50000} {
		for _, k := range []int{10, 100, 1000, n} {
			b.Run(fmt.Sprintf("points=%d/items=%d", n, k), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(uint64(n), uint64(k)))
				items := make([]*ua.MonitoredItemNotification, k)
				for i, h := range rng.Perm(n)[:k] {
					items[i] = &ua.MonitoredItemNotification{ClientHandle: uint32(h)}
				}
				var o handleOrder
				for b.Loop() {
					if got := o.byHandle(items, n); len(got) != k {
						b.Fatalf("%d items, want %d", len(got), k)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(k), "ns/item")
			})
		}
	}
}
