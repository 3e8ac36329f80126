package bench

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"canary/agent/wire"
)

// platform stands in for the monitoring platform: a QoS 1 subscriber that
// stamps each arrival, then (on another goroutine, so decoding does not
// delay the next stamp) counts samples, measures read→deliver latency
// from each sample's source time, tracks seqs per lane for loss and
// duplicates, and keeps the alarm events it sees.
//
// Data messages are read with a byte scanner, not encoding/json: at
// 500,000 samples/s a JSON decoder would need a core of its own, on the
// same two cores as the agent.
type platform struct {
	c     paho.Client
	queue chan arrival
	done  chan struct{}

	mu       sync.Mutex
	total    int64 // samples since start
	msgs     int64
	last     time.Time // last data arrival
	first    time.Time // first arrival of any message after resetFirst
	win      window
	seqs     [2]map[uint64]int // data, event: times each seq arrived
	alarms   []alarmSeen
	histData int64 // historical data messages
}

type arrival struct {
	at      time.Time
	topic   string
	payload []byte
}

type alarmSeen struct {
	point, state string
	at           time.Time
}

// window accumulates what arrives between open and close.
type window struct {
	open, closed bool
	from, to     time.Time
	samples      int64
	hist         latencyHist
}

// latencyHist is a histogram of milliseconds: constant memory at any rate.
type latencyHist struct {
	counts [60001]int64 // 0..60,000 ms; the last bucket holds the rest
	n      int64
}

func (h *latencyHist) add(ms int64) {
	h.counts[min(max(ms, 0), int64(len(h.counts)-1))]++
	h.n++
}

// quantile is the q-quantile in ms (nearest rank); -1 when empty.
func (h *latencyHist) quantile(q float64) float64 {
	if h.n == 0 {
		return -1
	}
	rank := int64(q*float64(h.n) + 0.5)
	rank = max(1, min(rank, h.n))
	var seen int64
	for ms, c := range h.counts {
		if seen += c; seen >= rank {
			return float64(ms)
		}
	}
	return float64(len(h.counts) - 1)
}

// newPlatform subscribes to canary/#. With persistent, the session (and
// what the broker queues for it) survives a broker restart with
// persistence, so nothing published during its reconnect is missed.
func newPlatform(tb testing.TB, url string, persistent bool) *platform {
	p := &platform{queue: make(chan arrival, 1<<16), done: make(chan struct{})}
	p.seqs[0], p.seqs[1] = map[uint64]int{}, map[uint64]int{}
	o := paho.NewClientOptions().AddBroker(url).SetClientID("bench-platform").SetCleanSession(!persistent).
		SetAutoReconnect(true).SetMaxReconnectInterval(100 * time.Millisecond).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetOrderMatters(true)
	o.SetOnConnectHandler(func(c paho.Client) { c.Subscribe("canary/#", 1, p.onMessage) })
	p.c = paho.NewClient(o)
	if tok := p.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("platform connect: %v", tok.Error())
	}
	go p.decode()
	tb.Cleanup(func() {
		p.c.Disconnect(100)
		close(p.queue)
		<-p.done
	})
	return p
}

func (p *platform) onMessage(_ paho.Client, m paho.Message) {
	p.queue <- arrival{at: time.Now(), topic: m.Topic(), payload: m.Payload()}
}

func (p *platform) decode() {
	defer close(p.done)
	for a := range p.queue {
		switch {
		case strings.HasSuffix(a.topic, "/data"):
			p.data(a)
		case strings.HasSuffix(a.topic, "/event"):
			p.event(a)
		}
	}
}

var (
	seqKey   = []byte(`,"seq":`)
	histKey  = []byte(`"historical":true`)
	tsKey    = []byte(`,"ts":`)
	pointKey = []byte(`{"point":`)
)

func (p *platform) data(a arrival) {
	seq := numberAfter(a.payload, seqKey)
	hist := bytes.Contains(a.payload[:min(len(a.payload), 200)], histKey)
	at := a.at.UnixMilli()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.arrived(a.at, 0, seq)
	p.msgs++
	p.last = a.at
	if hist {
		p.histData++
	}
	// A sample is in the window by its source time, so a window of k
	// intervals holds k scans whatever its phase against the scans.
	from, to := p.win.from.UnixMilli(), p.win.to.UnixMilli()
	body := a.payload
	for {
		i := bytes.Index(body, pointKey)
		if i < 0 {
			break
		}
		body = body[i+len(pointKey):]
		p.total++
		if ts := numberAfter(body, tsKey); p.win.open && ts >= from && (!p.win.closed || ts < to) {
			p.win.samples++
			p.win.hist.add(at - ts)
		}
	}
}

func (p *platform) arrived(at time.Time, lane int, seq int64) {
	if p.first.IsZero() {
		p.first = at
	}
	p.seqs[lane][uint64(seq)]++
}

func (p *platform) event(a arrival) {
	m, err := wire.Decode(a.payload)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.arrived(a.at, 1, int64(m.Seq))
	for _, e := range m.Events {
		if e.Type == wire.TypeAlarm {
			p.alarms = append(p.alarms, alarmSeen{point: e.Point, state: e.State, at: a.at})
		}
	}
}

// numberAfter parses the integer right after the first key in b.
func numberAfter(b, key []byte) int64 {
	i := bytes.Index(b, key)
	if i < 0 {
		return -1
	}
	b = b[i+len(key):]
	j := 0
	for j < len(b) && (b[j] == '-' || b[j] >= '0' && b[j] <= '9') {
		j++
	}
	n, _ := strconv.ParseInt(string(b[:j]), 10, 64)
	return n
}

func (p *platform) openWindow(from time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.win = window{open: true, from: from}
}

// closeWindow closes the window now and waits until the samples read
// before then have arrived (a second: far beyond the p99) and are decoded.
func (p *platform) closeWindow() window {
	p.mu.Lock()
	p.win.closed, p.win.to = true, time.Now()
	p.mu.Unlock()
	time.Sleep(time.Second)
	p.settle()
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.win
	p.win.open = false
	return w
}

// settle waits (bounded) until the decode queue is empty.
func (p *platform) settle() {
	for i := 0; i < 500 && len(p.queue) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the arrival being decoded
}

func (p *platform) samples() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// resetFirst forgets the first arrival, to time the next one.
func (p *platform) resetFirst() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.first = time.Time{}
}

func (p *platform) firstArrival() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.first
}

// integrity counts, over both lanes, seqs that never arrived between the
// lowest and the highest seen (lost) and arrivals beyond the first
// (duplicates, expected only from the in-flight window at a loss).
func (p *platform) integrity() (lost, dups int64) {
	p.settle()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, seqs := range p.seqs {
		if len(seqs) == 0 {
			continue
		}
		lo, hi := uint64(1<<63), uint64(0)
		for s, n := range seqs {
			lo, hi = min(lo, s), max(hi, s)
			dups += int64(n - 1)
		}
		lost += int64(hi-lo+1) - int64(len(seqs))
	}
	return lost, dups
}

func (p *platform) alarmEvents() []alarmSeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]alarmSeen(nil), p.alarms...)
}

// status fetches the agent's /status.
func agentStatus(addr string) (st struct {
	Outbox struct {
		Lanes map[string]struct {
			Depth int `json:"depth"`
		} `json:"lanes"`
	} `json:"outbox"`
}, err error) {
	raw, err := httpGet("http://" + addr + "/status")
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(raw, &st)
	return st, err
}

// agentGoroutines reads canary_goroutines from the agent's /metrics; -1
// when it cannot.
func agentGoroutines(addr string) int { return int(agentMetric(addr, "canary_goroutines")) }

// agentMetric reads one unlabelled sample from the agent's /metrics; -1
// when it cannot.
func agentMetric(addr, name string) float64 {
	raw, err := httpGet("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
