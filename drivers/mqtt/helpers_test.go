package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"canary/drivers"
	"canary/drivers/mqtt"
	"canary/drivers/mqtt/mqtttest"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer collects logs from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newSink(t *testing.T, o mqtt.Options) *mqtt.Sink {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = fmt.Sprintf("canary-test-%d", time.Now().UnixNano())
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 3 * time.Second
	}
	s, err := mqtt.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func connect(t *testing.T, s *mqtt.Sink) {
	t.Helper()
	if err := s.Connect(testCtx(t)); err != nil {
		t.Fatalf("Connect: %v", err)
	}
}

// await waits for d (bounded) and returns its error.
func await(t *testing.T, d drivers.Delivery) error {
	t.Helper()
	select {
	case <-d.Done():
		return d.Err()
	case <-time.After(10 * time.Second):
		t.Fatal("delivery not done after 10s")
		return nil
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not closed after 10s", what)
	}
}

func hasPayload(want string) func([]mqtttest.Msg) bool {
	return func(ms []mqtttest.Msg) bool {
		for _, m := range ms {
			if string(m.Payload) == want {
				return true
			}
		}
		return false
	}
}

// burst publishes n messages with unique payloads from one goroutine and
// calls cut once `after` of them were acknowledged. It then checks the key
// property: every Delivery that reported success is in the recorder.
func burst(t *testing.T, s *mqtt.Sink, rec *mqtttest.Recorder, n, after int, cut func()) {
	t.Helper()
	ctx := testCtx(t)
	var (
		mu   sync.Mutex
		ok   []string
		fail int
		acks int
		once sync.Once
		wg   sync.WaitGroup
	)
	cutDone := make(chan struct{})
	for i := range n {
		p := fmt.Sprintf("burst-%04d", i)
		d := s.Publish(ctx, drivers.Message{Topic: "t/burst", Payload: []byte(p)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := await(t, d)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if !errors.Is(err, drivers.ErrNotConnected) {
					t.Errorf("%s: unexpected error kind: %v", p, err)
				}
				fail++
				return
			}
			ok = append(ok, p)
			if acks++; acks == after {
				go once.Do(func() { cut(); close(cutDone) })
			}
		}()
		if i == n/2 {
			// Make sure the cut lands mid-burst even on a fast machine.
			waitClosed(t, cutDone, "cut")
		}
	}
	wg.Wait()
	t.Logf("%d acknowledged, %d failed", len(ok), fail)
	if len(ok) < after || fail == 0 {
		t.Fatalf("the cut did not land mid-burst: %d ok, %d failed", len(ok), fail)
	}
	err := rec.WaitFor(ctx, func(ms []mqtttest.Msg) bool {
		seen := map[string]bool{}
		for _, m := range ms {
			seen[string(m.Payload)] = true
		}
		for _, p := range ok {
			if !seen[p] {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("false success: a message reported delivered is not at the broker: %v", err)
	}
}
