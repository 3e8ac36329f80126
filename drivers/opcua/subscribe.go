package opcua

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sort"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"

	"canary/drivers"
)

// notifQueue bounds the notifications between the library's publish loop
// and this Source. When emit is slow the queue fills and the library stops
// sending publish requests for this session only; the server then queues
// (queue_size per item, discarding oldest). Other devices have their own
// session and goroutine and are not affected.
const notifQueue = 64

// subscribe creates the subscription and every monitored item, then turns
// data changes into Scans until the connection dies or ctx is done. A
// server without subscriptions falls back to polling.
func (s *Source) subscribe(ctx context.Context, c conn, ids []*ua.NodeID, bad []drivers.Reason, emit func(drivers.Scan), dead <-chan struct{}) error {
	ch := make(chan *opcua.PublishNotificationData, notifQueue)
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	sub, err := c.Subscribe(sctx, &opcua.SubscriptionParameters{Interval: s.publish}, ch)
	cancel()
	if err != nil {
		if errors.Is(err, ua.StatusBadServiceUnsupported) || errors.Is(err, ua.StatusBadTooManySubscriptions) {
			s.log.Warn("opcua: no subscriptions, polling", "device", s.dev, "err", err)
			return s.pollLoop(ctx, c, ids, bad, emit, dead)
		}
		return fmt.Errorf("opcua: subscribe: %w", err)
	}
	if err := s.monitor(ctx, sub, ids, bad, emit); err != nil {
		return err
	}
	return s.notifyLoop(ctx, c, ch, emit, dead)
}

// monitor creates the monitored items in batches; the client handle is the
// point's index. Items the server refuses are reported Bad once.
func (s *Source) monitor(ctx context.Context, sub *opcua.Subscription, ids []*ua.NodeID, bad []drivers.Reason, emit func(drivers.Scan)) error {
	var reqs []*ua.MonitoredItemCreateRequest
	var idx []int
	for i, p := range s.points {
		if bad[i] == drivers.ReasonNone {
			reqs = append(reqs, itemRequest(p, ids[i], uint32(i)))
			idx = append(idx, i)
		}
	}
	now := s.clock.Now()
	refused := drivers.Scan{Device: s.dev, At: now}
	for lo := 0; lo < len(reqs); lo += MonitorBatch {
		hi := min(lo+MonitorBatch, len(reqs))
		mctx, cancel := context.WithTimeout(ctx, s.timeout)
		res, err := sub.Monitor(mctx, ua.TimestampsToReturnBoth, reqs[lo:hi]...)
		cancel()
		if err != nil {
			return fmt.Errorf("opcua: create monitored items: %w", err)
		}
		for k, r := range res.Results {
			if q, why := classify(r.StatusCode); q == drivers.Bad && lo+k < hi {
				refused.Samples = append(refused.Samples, drivers.Sample{Point: s.points[idx[lo+k]].id, TS: now, Quality: q, Reason: why})
			}
		}
	}
	if len(refused.Samples) > 0 {
		s.log.Warn("opcua: monitored items refused", "device", s.dev, "count", len(refused.Samples))
		emit(refused)
	}
	return nil
}

func itemRequest(p point, nid *ua.NodeID, handle uint32) *ua.MonitoredItemCreateRequest {
	var filter *ua.ExtensionObject
	if p.deadband != ua.DeadbandTypeNone {
		filter = ua.NewExtensionObject(&ua.DataChangeFilter{Trigger: ua.DataChangeTriggerStatusValue,
			DeadbandType: uint32(p.deadband), DeadbandValue: p.dbValue})
	}
	return &ua.MonitoredItemCreateRequest{
		ItemToMonitor:  &ua.ReadValueID{NodeID: nid, AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}},
		MonitoringMode: ua.MonitoringModeReporting,
		RequestedParameters: &ua.MonitoringParameters{
			ClientHandle:     handle,
			SamplingInterval: float64(p.sampling.Milliseconds()),
			QueueSize:        p.queue,
			DiscardOldest:    true,
			Filter:           filter,
		},
	}
}

// notifyLoop emits one Scan per data-change notification, holding only the
// points that changed, and checks the session with a cheap read every
// interval: a server that vanished without closing the socket is caught by
// the read's timeout. A successful check emits an empty Scan (Err nil, no
// Samples): a subscription whose values never change still shows the
// agent, every interval, that the device is alive and online.
func (s *Source) notifyLoop(ctx context.Context, c conn, ch <-chan *opcua.PublishNotificationData, emit func(drivers.Scan), dead <-chan struct{}) error {
	tick := s.clock.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-dead:
			return ErrConnLost
		case <-tick.C():
			start := s.clock.Now()
			if err := s.health(ctx, c); err != nil || ctx.Err() != nil {
				return err
			}
			emit(drivers.Scan{Device: s.dev, At: start, Latency: s.clock.Now().Sub(start)})
		case n := <-ch:
			if err := s.notification(n, emit); err != nil {
				return err
			}
		}
	}
}

func (s *Source) notification(n *opcua.PublishNotificationData, emit func(drivers.Scan)) error {
	if n.Error != nil {
		s.log.Debug("opcua: publish", "device", s.dev, "err", n.Error)
		return nil // the health check decides whether the session is dead
	}
	switch v := n.Value.(type) {
	case *ua.DataChangeNotification:
		now := s.clock.Now()
		items := s.order.byHandle(v.MonitoredItems, len(s.points))
		sc := drivers.Scan{Device: s.dev, At: now, Samples: make([]drivers.Sample, 0, len(items))}
		for _, it := range items {
			sc.Samples = append(sc.Samples, sample(&s.points[it.ClientHandle], it.Value, now))
		}
		s.notifs.Add(int64(len(sc.Samples)))
		emit(sc)
	case *ua.StatusChangeNotification:
		if q, _ := classify(v.Status); q == drivers.Bad {
			return fmt.Errorf("%w: subscription status %v", ErrConnLost, v.Status)
		}
	}
	return nil
}

var serverState = ua.NewNumericNodeID(0, id.Server_ServerStatus_State)

func (s *Source) health(ctx context.Context, c conn) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := c.Read(rctx, &ua.ReadRequest{NodesToRead: []*ua.ReadValueID{{NodeID: serverState, AttributeID: ua.AttributeIDValue}}})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: health read: %w", ErrConnLost, err)
	}
	return nil
}

// Notifications counts data-change samples received, for figures.
func (s *Source) Notifications() int64 { return s.notifs.Load() }

// handleOrder puts a notification's items in client-handle order, which
// is config order. Servers send a subscription's changes in an order of
// their own (gopcua's server: a map's). In config order the outbox's
// compact records share most of each point id with the one before, and
// the pipeline walks its point states in memory order. It is one
// subscription's, used by its goroutine only.
type handleOrder struct {
	count []int32
	out   []*ua.MonitoredItemNotification
}

// byHandle returns items ordered by client handle, keeping the order of
// several values of one item (queue_size > 1), without the items whose
// handle is not below n (a point that does not exist) or that are nil.
// A notification already in order is returned as it is.
func (o *handleOrder) byHandle(items []*ua.MonitoredItemNotification, n int) []*ua.MonitoredItemNotification {
	ordered, prev := true, uint32(0)
	for _, it := range items {
		if it == nil || int(it.ClientHandle) >= n || it.ClientHandle < prev {
			ordered = false
			break
		}
		prev = it.ClientHandle
	}
	if ordered {
		return items
	}
	if k := len(items); k*bits.Len(uint(k))*sparseCost < n {
		return o.sortFew(items, n)
	}
	// A counting sort: stable, and linear in items and points.
	if cap(o.count) < n+1 {
		o.count = make([]int32, n+1)
	}
	count := o.count[:n+1]
	clear(count)
	for _, it := range items {
		if it != nil && int(it.ClientHandle) < n {
			count[it.ClientHandle+1]++
		}
	}
	for h := 1; h <= n; h++ {
		count[h] += count[h-1]
	}
	if cap(o.out) < int(count[n]) {
		o.out = make([]*ua.MonitoredItemNotification, count[n])
	}
	out := o.out[:count[n]]
	clear(o.out[len(out):cap(o.out)]) // nothing kept from an older notification
	for _, it := range items {
		if it != nil && int(it.ClientHandle) < n {
			out[count[it.ClientHandle]] = it
			count[it.ClientHandle]++
		}
	}
	return out
}

// sparseCost weighs a comparison sort's k·log2(k) against the counting
// sort's pass over all n points: when k·log2(k)·sparseCost < n, the k
// items of a notification are sorted by comparison instead.
// BenchmarkByHandle: the counting sort costs about 0.65 ns a point
// (32–42 µs at 50,000 points for any notification of up to 1,000 items),
// the comparison sort about 8 ns a comparison (5.2–6.0 µs for 100 items,
// two allocations of 56 bytes in all).
const sparseCost = 12

// sortFew orders a notification of few items among many points by
// comparison (stable), dropping nil items and handles not below n.
func (o *handleOrder) sortFew(items []*ua.MonitoredItemNotification, n int) []*ua.MonitoredItemNotification {
	out := o.out[:0]
	for _, it := range items {
		if it != nil && int(it.ClientHandle) < n {
			out = append(out, it)
		}
	}
	clear(out[len(out):cap(out)]) // nothing kept from an older notification
	o.out = out
	// sort.SliceStable, not slices.SortStableFunc: the release binary
	// already holds its code, and a new instantiation of the generic sort
	// would take the arm binary over 10 MiB.
	sort.SliceStable(out, func(i, j int) bool { return out[i].ClientHandle < out[j].ClientHandle })
	return out
}
