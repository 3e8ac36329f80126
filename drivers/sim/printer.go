package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers/mqtt/mqtttest"
)

// printer shows, as the platform sees it, each message the broker gets.
type printer struct {
	mu    sync.Mutex
	out   io.Writer
	rec   *mqtttest.Recorder
	units map[string]string
	seen  int // messages printed
	start time.Time

	received map[buffer.Lane]map[uint64]int // seq → copies
	alarms   []string
}

func newPrinter(out io.Writer, rec *mqtttest.Recorder, units map[string]string, start time.Time) *printer {
	return &printer{out: out, rec: rec, units: units, start: start,
		received: map[buffer.Lane]map[uint64]int{buffer.LaneData: {}, buffer.LaneEvent: {}}}
}

func (p *printer) run(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		p.flush()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *printer) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%s  %s\n", clockText(time.Since(p.start)), s)
}

// flush prints messages that arrived since the last call.
func (p *printer) flush() {
	msgs := p.rec.Messages()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs[p.seen:] {
		p.print(clockText(m.At.Sub(p.start)), m)
	}
	p.seen = len(msgs)
}

func (p *printer) print(at string, m mqtttest.Msg) {
	switch {
	case strings.HasSuffix(m.Topic, "/status"):
		fmt.Fprintf(p.out, "%s  status   %s\n", at, statusLine(m.Payload))
		return
	case strings.HasSuffix(m.Topic, "/data"), strings.HasSuffix(m.Topic, "/event"):
	default:
		return
	}
	msg, err := wire.Decode(m.Payload)
	if err != nil {
		fmt.Fprintf(p.out, "%s  UNDECODABLE %q\n", at, m.Payload)
		return
	}
	lane := buffer.LaneData
	if strings.HasSuffix(m.Topic, "/event") {
		lane = buffer.LaneEvent
	}
	p.received[lane][msg.Seq]++
	hist := ""
	if msg.Historical {
		hist = " (backfill)"
	}
	if lane == buffer.LaneData {
		fmt.Fprintf(p.out, "%s  data #%-4d%s %s\n", at, msg.Seq, hist, p.samples(msg.Samples))
		return
	}
	for _, e := range msg.Events {
		fmt.Fprintf(p.out, "%s  EVENT #%-3d%s %s\n", at, msg.Seq, hist, p.event(e))
	}
}

func (p *printer) samples(ss []wire.Sample) string {
	var b strings.Builder
	for _, s := range ss {
		if s.Quality != "good" {
			fmt.Fprintf(&b, " %s=%s/%s", s.Point, s.Quality, s.Reason)
			continue
		}
		if f, ok := s.Value.(float64); ok {
			fmt.Fprintf(&b, " %s=%.1f%s", s.Point, f, p.units[s.Point])
		} else {
			fmt.Fprintf(&b, " %s=%v", s.Point, s.Value)
		}
	}
	return strings.TrimSpace(b.String())
}

func (p *printer) event(e wire.Event) string {
	at := time.UnixMilli(e.TS).Format("15:04:05.000")
	switch e.Type {
	case wire.TypeAlarm:
		p.alarms = append(p.alarms, e.Point+" "+e.Level+" "+e.State)
		return fmt.Sprintf("ALARM %s %s level %s: %.1f%s (limit %.0f), at %s",
			strings.ToUpper(e.State), e.Point, e.Level, deref(e.Value), p.units[e.Point], deref(e.Limit), at)
	case wire.TypeDevice:
		s := fmt.Sprintf("device %s %s at %s", e.Device, e.State, at)
		if e.Error != "" {
			s += ": " + e.Error
		}
		return s
	case wire.TypeGap:
		return fmt.Sprintf("GAP %s seq %d..%d: %d records dropped (%s)", e.Lane, e.FromSeq, e.ToSeq, e.Records, e.Reason)
	}
	return fmt.Sprintf("%s %s %s", e.Type, e.State, e.Detail)
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

func statusLine(b []byte) string {
	var s struct {
		State string `json:"state"`
		Link  struct {
			Reconnects uint64 `json:"reconnects"`
		} `json:"link"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return "undecodable"
	}
	if s.Reason != "" {
		return s.State + " (" + s.Reason + ", published by the broker as the agent's will)"
	}
	return s.State
}

// verify waits up to limit for every appended record to have arrived,
// then prints the summary. It fails if anything is missing.
func (p *printer) verify(appended map[buffer.Lane]map[uint64]bool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var missing []string
	for {
		p.flush()
		missing = p.missing(appended)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	total, dups := 0, 0
	for _, lane := range buffer.Lanes {
		total += len(appended[lane])
		for _, n := range p.received[lane] {
			dups += n - 1
		}
	}
	fmt.Fprintf(p.out, "\nsummary: the agent queued %d records (%d data, %d event); the platform received all but %d, with %d exact duplicates\n",
		total, len(appended[buffer.LaneData]), len(appended[buffer.LaneEvent]), len(missing), dups)
	fmt.Fprintf(p.out, "alarms seen by the platform: %s\n", strings.Join(p.alarms, ", "))
	if len(missing) > 0 {
		sort.Strings(missing)
		if len(missing) > 10 {
			missing = append(missing[:10], "…")
		}
		return fmt.Errorf("the platform is missing %s", strings.Join(missing, " "))
	}
	return nil
}

func (p *printer) missing(appended map[buffer.Lane]map[uint64]bool) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for lane, seqs := range appended {
		for s := range seqs {
			if p.received[lane][s] == 0 {
				out = append(out, fmt.Sprintf("%s#%d", lane, s))
			}
		}
	}
	return out
}
