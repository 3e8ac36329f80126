package agent

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/firmware"
)

// recordEvents decodes the events of an event record's body.
func recordEvents(t *testing.T, r buffer.Record) []wire.Event {
	t.Helper()
	m, err := wire.Decode([]byte("{" + string(r.Payload) + "}"))
	if err != nil {
		t.Fatalf("record %s: %v", r.Payload, err)
	}
	return m.Events
}

// fakeFW is a Firmware whose state and pending events the test sets.
type fakeFW struct {
	mu      sync.Mutex
	state   firmware.Status
	pending []firmware.Event
	commits int
	install func(ctx context.Context, u firmware.Update) (*firmware.Manifest, error)
}

func (f *fakeFW) State() (firmware.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state, nil
}

func (f *fakeFW) Commit() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commits++
	if f.state.Trial {
		f.state.Trial = false
		f.pending = append(f.pending, firmware.Event{Kind: firmware.Committed, Version: f.state.Version, Slot: f.state.Slot, Time: time.Now()})
	}
	return nil
}

func (f *fakeFW) Events() ([]firmware.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]firmware.Event(nil), f.pending...), nil
}

func (f *fakeFW) Forget(evs []firmware.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = f.pending[len(evs):]
	return nil
}

func (f *fakeFW) Install(ctx context.Context, u firmware.Update) (*firmware.Manifest, error) {
	return f.install(ctx, u)
}

func (f *fakeFW) committed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commits
}

// countSink counts connection attempts; refuse makes them fail.
type countSink struct {
	*fakeSink
	connects atomic.Int32
}

func (s *countSink) Connect(ctx context.Context) error {
	s.connects.Add(1)
	return s.fakeSink.Connect(ctx)
}

func (s *countSink) setRefuse(on bool) {
	s.mu.Lock()
	s.refuse = on
	s.mu.Unlock()
}

func firmwareEvents(t *testing.T, s *fakeSink) []wire.Event {
	var out []wire.Event
	for _, e := range s.events(t) {
		if e.Type == wire.TypeFirmware {
			out = append(out, e)
		}
	}
	return out
}

func statuses(s *fakeSink) []Status {
	var out []Status
	for _, m := range s.messages() {
		var st Status
		if strings.HasSuffix(m.Topic, "/status") && json.Unmarshal(m.Payload, &st) == nil {
			out = append(out, st)
		}
	}
	return out
}

// On trial the agent commits only once the uplink took its birth, and
// then publishes the launcher's `trial` and its own `committed` event;
// the birth still says trial, a later status does not.
func TestFirmwareTrialCommitsAfterUplinkBirth(t *testing.T) {
	fw := &fakeFW{state: firmware.Status{Launched: true, Slot: "a", Version: "2.0.0", Trial: true, Boots: 1},
		pending: []firmware.Event{{Kind: firmware.Trial, Version: "2.0.0", Slot: "a", Boots: 1, Time: time.UnixMilli(1_700_000_000_000)}}}
	sink := &countSink{fakeSink: &fakeSink{refuse: true}}
	a := mgmtAgent(t, &fakeSource{}, sink, nil, Options{Firmware: fw})
	stop := runAgent(a, sink.fakeSink)
	defer stop()
	waitFor(t, 5*time.Second, func() bool { return sink.connects.Load() >= 5 })
	if n := fw.committed(); n != 0 {
		t.Fatalf("committed %d times while the uplink refused", n)
	}
	sink.setRefuse(false)
	waitFor(t, 10*time.Second, func() bool { return len(firmwareEvents(t, sink.fakeSink)) >= 2 })
	evs := firmwareEvents(t, sink.fakeSink)
	if evs[0].State != "trial" || evs[0].Boots != 1 || evs[0].TS != 1_700_000_000_000 ||
		evs[1].State != "committed" || evs[1].Version != "2.0.0" || evs[1].Slot != "a" {
		t.Fatalf("firmware events %+v", evs)
	}
	if n := fw.committed(); n != 1 {
		t.Errorf("committed %d times", n)
	}
	birth := statuses(sink.fakeSink)[0]
	if birth.Firmware == nil || !birth.Firmware.Trial || birth.Firmware.Slot != "a" {
		t.Errorf("birth firmware block %+v", birth.Firmware)
	}
	waitFor(t, 15*time.Second, func() bool {
		all := statuses(sink.fakeSink)
		last := all[len(all)-1]
		return last.Firmware != nil && !last.Firmware.Trial
	})
}

// Events stay recorded until an outbox append holding them returned: a
// failing disk leaves them pending (and retried), not lost.
func TestFirmwareEventsForgottenOnlyWhenInTheOutbox(t *testing.T) {
	fw := &fakeFW{state: firmware.Status{Launched: true, Slot: "a"},
		pending: []firmware.Event{{Kind: firmware.RolledBack, Version: "2.0.0", From: "1.0.0", Reason: "no commit after 3 starts"}}}
	box := &faultBox{Outbox: buffer.NewMemory(buffer.Options{MaxBytes: 1 << 20})}
	a := mgmtAgent(t, &fakeSource{}, &fakeSink{}, nil, Options{Firmware: fw, Outbox: box})
	defer a.box.Close()
	box.fail(syscall.ENOSPC)
	a.fw.publish()
	if evs, _ := fw.Events(); len(evs) != 1 || !a.fw.retryEv {
		t.Fatalf("after a failed append: pending %+v, retry %v", evs, a.fw.retryEv)
	}
	box.fail(nil)
	a.fw.publish()
	if evs, _ := fw.Events(); len(evs) != 0 || a.fw.retryEv {
		t.Fatalf("after the append: pending %+v, retry %v", evs, a.fw.retryEv)
	}
	recs, err := box.BeginSpan(10, buffer.Span{Lane: buffer.LaneEvent})
	if err != nil || len(recs) != 1 {
		t.Fatalf("event records %d, %v", len(recs), err)
	}
	if e := recordEvents(t, recs[0]); len(e) != 1 || e[0].Type != "firmware" || e[0].State != "rolled_back" ||
		e[0].Slot != "base" || e[0].From != "1.0.0" || e[0].Reason != "no commit after 3 starts" {
		t.Fatalf("record %s", recs[0].Payload)
	}
}

// A download shows its progress in status, and the event lane gets at
// most its start and its end however many chunks arrive.
func TestFirmwareUpdateProgressInStatus(t *testing.T) {
	release := make(chan struct{})
	reached := make(chan struct{})
	fw := &fakeFW{state: firmware.Status{Launched: true, Slot: "base", Dir: t.TempDir()}}
	fw.install = func(ctx context.Context, u firmware.Update) (*firmware.Manifest, error) {
		u.Notify(firmware.Event{Kind: firmware.Downloading, Total: -1})
		for i := int64(1); i <= 100; i++ {
			u.Progress(i*1000, 200_000)
		}
		close(reached)
		<-release
		u.Notify(firmware.Event{Kind: firmware.Downloading, Done: 200_000, Total: 200_000})
		return nil, &firmware.RejectError{Version: "2.0.0", Err: firmware.ErrSignature}
	}
	a := mgmtAgent(t, &fakeSource{}, &fakeSink{}, nil, Options{Firmware: fw})
	defer a.box.Close()
	c := &commander{a: a}
	done := make(chan error, 1)
	go func() {
		_, err := c.firmwareUpdate(context.Background(), json.RawMessage(`{"url":"https://fw.example/canary.fwb"}`))
		done <- err
	}()
	<-reached
	u := a.status("online").Firmware.Update
	if u == nil || u.State != "downloading" || u.Done != 100_000 || u.Total != 200_000 {
		t.Fatalf("status while downloading: %+v", u)
	}
	close(release)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("reply error %v", err)
	}
	if u := a.status("online").Firmware.Update; u.State != "rejected" || u.Version != "2.0.0" {
		t.Errorf("status after the refusal: %+v", u)
	}
	recs, _ := a.box.BeginSpan(100, buffer.Span{Lane: buffer.LaneEvent})
	n := 0
	for _, r := range recs {
		n += strings.Count(string(r.Payload), `"state":"downloading"`)
	}
	if n != 2 {
		t.Errorf("%d downloading events for 100 chunks, want a start and an end", n)
	}
}

// Wrong arguments are refused before anything is fetched; without a
// launcher the update is refused with a reason and a rejected event.
func TestFirmwareUpdateArgsAndLauncher(t *testing.T) {
	fw := &fakeFW{state: firmware.Status{}}
	fw.install = func(context.Context, firmware.Update) (*firmware.Manifest, error) {
		t.Error("install called")
		return nil, nil
	}
	a := mgmtAgent(t, &fakeSource{}, &fakeSink{}, nil, Options{Firmware: fw})
	defer a.box.Close()
	c := &commander{a: a}
	for _, args := range []string{``, `{}`, `{"url":"https://a/b","path":"/b"}`, `{"url":"http://fw.example/b"}`,
		`{"path":"relative.fwb"}`, `{"url":"https://a/b","extra":1}`, `{"url":"ftp://a/b"}`} {
		if _, err := c.firmwareUpdate(context.Background(), json.RawMessage(args)); err == nil || !strings.Contains(err.Error(), "bad_args") {
			t.Errorf("args %s: %v, want bad_args", args, err)
		}
	}
	_, err := c.firmwareUpdate(context.Background(), json.RawMessage(`{"path":"/tmp/b.fwb"}`))
	if err == nil || !strings.Contains(err.Error(), ReasonRejected+": not started by the launcher") {
		t.Fatalf("not launched: %v", err)
	}
	recs, _ := a.box.BeginSpan(100, buffer.Span{Lane: buffer.LaneEvent})
	if len(recs) != 1 || !strings.Contains(string(recs[0].Payload), `"type":"firmware","state":"rejected"`) {
		t.Fatalf("event records %d", len(recs))
	}
	fw.state = firmware.Status{Launched: true, Slot: "a", Version: "2.0.0", Trial: true}
	if _, err := c.firmwareUpdate(context.Background(), json.RawMessage(`{"path":"/tmp/b.fwb"}`)); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("on trial: %v", err)
	}
}
