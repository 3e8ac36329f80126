package agent

import (
	"bufio"
	"io"
	"runtime"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"time"

	"canary/buffer"
)

// promWriter writes the Prometheus text exposition format (version
// 0.0.4) by hand: a handful of families do not justify a client library
// on a 32-bit gateway.
type promWriter struct {
	w *bufio.Writer
}

type label struct{ name, value string }

func (p *promWriter) family(name, typ, help string) {
	p.w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

func (p *promWriter) sample(name string, v float64, labels ...label) {
	p.w.WriteString(name)
	if len(labels) > 0 {
		p.w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				p.w.WriteByte(',')
			}
			p.w.WriteString(l.name + `="` + escapeLabel(l.value) + `"`)
		}
		p.w.WriteByte('}')
	}
	p.w.WriteByte(' ')
	p.w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	p.w.WriteByte('\n')
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// writeMetrics writes every metric of the agent.
func (a *Agent) writeMetrics(out io.Writer) error {
	p := &promWriter{w: bufio.NewWriter(out)}
	now := a.clock.Now()
	p.family("canary_build_info", "gauge", "Version of the running agent.")
	p.sample("canary_build_info", 1, label{"version", a.opts.Version}, label{"boot", a.boot})
	p.family("canary_uptime_seconds", "gauge", "Seconds since this agent instance started.")
	p.sample("canary_uptime_seconds", now.Sub(a.started).Seconds())
	p.family("canary_goroutines", "gauge", "Goroutines of the process.")
	p.sample("canary_goroutines", float64(runtime.NumGoroutine()))
	p.family("canary_go_memory_bytes", "gauge", "Memory the Go runtime has mapped (heap, stacks, metadata).")
	p.sample("canary_go_memory_bytes", goMemory())
	a.writeDeviceMetrics(p)
	a.writeReconnectMetrics(p)
	a.writeOutboxMetrics(p, now)
	a.writeLinkMetrics(p)
	a.writeCommandMetrics(p)
	p.family("canary_health_warning", "gauge", "Active health warnings (1 each).")
	for _, w := range a.warnings() {
		p.sample("canary_health_warning", 1, label{"code", w.Code}, label{"severity", string(w.Severity)})
	}
	return p.w.Flush()
}

func (a *Agent) writeDeviceMetrics(p *promWriter) {
	sts := make([]DeviceStatus, 0, len(a.pipe.order))
	for _, ds := range a.pipe.order {
		sts = append(sts, ds.status())
	}
	type fam struct {
		name, typ, help string
		v               func(st DeviceStatus, dm *devMetrics) float64
	}
	fams := []fam{
		{"canary_device_samples_read_total", "counter", "Samples read with good quality.",
			func(_ DeviceStatus, dm *devMetrics) float64 { return float64(dm.good.Load()) }},
		{"canary_device_samples_failed_total", "counter", "Samples read with bad or uncertain quality.",
			func(_ DeviceStatus, dm *devMetrics) float64 { return float64(dm.notGood.Load()) }},
		{"canary_device_polls_total", "counter", "Polls (scans) of the device.",
			func(st DeviceStatus, _ *devMetrics) float64 { return float64(st.Polls) }},
		{"canary_device_poll_failures_total", "counter", "Polls that failed (communication).",
			func(st DeviceStatus, _ *devMetrics) float64 { return float64(st.Failures) }},
		{"canary_device_poll_latency_seconds", "gauge", "Latency of the last poll, request to last reply.",
			func(st DeviceStatus, _ *devMetrics) float64 { return st.LatencyMS / 1000 }},
		{"canary_device_up", "gauge", "1 when the device answered its last poll, 0 when not, -1 unknown.",
			func(st DeviceStatus, _ *devMetrics) float64 {
				return map[string]float64{"online": 1, "offline": 0}[st.State] - b2f(st.State == "unknown")
			}},
	}
	for _, f := range fams {
		p.family(f.name, f.typ, f.help)
		for _, st := range sts {
			if dm := a.m.met.devices[st.ID]; dm != nil {
				p.sample(f.name, f.v(st, dm), label{"device", st.ID})
			}
		}
	}
}

// writeReconnectMetrics lists the devices whose driver counts reconnects.
func (a *Agent) writeReconnectMetrics(p *promWriter) {
	links := a.links()
	p.family("canary_device_reconnects_total", "counter", "Connection attempts after the first (drivers that keep a session: OPC UA).")
	for _, ds := range a.pipe.order {
		if l, ok := links[ds.id]; ok {
			p.sample("canary_device_reconnects_total", float64(l.Reconnects), label{"device", ds.id})
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (a *Agent) writeOutboxMetrics(p *promWriter, now time.Time) {
	s := a.box.Stats()
	type fam struct {
		name, typ, help string
		v               func(l buffer.LaneStats) float64
	}
	fams := []fam{
		{"canary_outbox_depth", "gauge", "Records queued in the outbox lane, in flight included.",
			func(l buffer.LaneStats) float64 { return float64(l.Depth) }},
		{"canary_outbox_bytes", "gauge", "Payload bytes queued in the outbox lane.",
			func(l buffer.LaneStats) float64 { return float64(l.Bytes) }},
		{"canary_outbox_oldest_age_seconds", "gauge", "Age of the oldest queued record of the lane (0 when empty).",
			func(l buffer.LaneStats) float64 {
				if l.Oldest.IsZero() {
					return 0
				}
				return now.Sub(l.Oldest).Seconds()
			}},
		{"canary_outbox_dropped_total", "counter", "Records evicted by the byte budget since the outbox was opened (disk failures: canary_outbox_dropped_disk_total).",
			func(l buffer.LaneStats) float64 { return float64(l.Dropped) }},
	}
	for _, f := range fams {
		p.family(f.name, f.typ, f.help)
		for _, l := range buffer.Lanes {
			p.sample(f.name, f.v(s.Lanes[l]), label{"lane", l.String()})
		}
	}
	_, _, droppedDisk := a.out.condition()
	p.family("canary_outbox_dropped_disk_total", "counter", "Records dropped since the agent started because the outbox "+
		"could not store them (disk full, read-only, I/O error, or a batch the outbox refused); status outbox.dropped_disk.")
	p.sample("canary_outbox_dropped_disk_total", float64(droppedDisk))
	p.family("canary_outbox_file_bytes", "gauge", "Size of the outbox (file size for bbolt).")
	p.sample("canary_outbox_file_bytes", float64(s.Bytes))
	p.family("canary_outbox_max_bytes", "gauge", "Byte budget of the outbox (buffer.max_bytes).")
	p.sample("canary_outbox_max_bytes", float64(s.MaxBytes))
	p.family("canary_outbox_commits_total", "counter", "Durable outbox transactions (each one fdatasync) since it was opened: flash wear and the disk's share of CPU.")
	p.sample("canary_outbox_commits_total", float64(s.Commits))
}

func (a *Agent) writeLinkMetrics(p *promWriter) {
	m := a.m.met
	up, _, _ := a.fwd.link()
	p.family("canary_uplink_connected", "gauge", "1 while connected to the broker.")
	p.sample("canary_uplink_connected", b2f(up), label{"broker", a.sink.Endpoint()})
	p.family("canary_uplink_connects_total", "counter", "Successful connections to the broker.")
	p.sample("canary_uplink_connects_total", float64(a.fwd.reconnects.Load()))
	p.family("canary_uplink_connect_failures_total", "counter", "Connection attempts that failed.")
	p.sample("canary_uplink_connect_failures_total", float64(m.connFailed.Load()))
	p.family("canary_records_published_total", "counter", "Outbox records published (resends included).")
	p.sample("canary_records_published_total", float64(a.fwd.published.Load()))
	p.family("canary_records_acked_total", "counter", "Outbox records acknowledged by the broker and deleted.")
	p.sample("canary_records_acked_total", float64(a.fwd.acked.Load()))
	p.family("canary_publish_failed_total", "counter", "Publishes (records and status) that were not acknowledged.")
	p.sample("canary_publish_failed_total", float64(m.pubFailed.Load()))
	const h = "canary_publish_latency_seconds"
	p.family(h, "histogram", "Publish to PUBACK, as seen by the forwarder (acknowledged publishes only).")
	var cum uint64
	for i, b := range publishBuckets {
		cum += m.pubBuckets[i].Load()
		p.sample(h+"_bucket", float64(cum), label{"le", strconv.FormatFloat(b, 'g', -1, 64)})
	}
	ok := max(m.pubCount.Load()-m.pubFailed.Load(), cum) // counters move independently
	p.sample(h+"_bucket", float64(ok), label{"le", "+Inf"})
	p.sample(h+"_sum", time.Duration(m.pubSumNS.Load()).Seconds())
	p.sample(h+"_count", float64(ok))
}

func (a *Agent) writeCommandMetrics(p *promWriter) {
	m := a.m.met
	p.family("canary_commands_accepted_total", "counter", "Signed commands accepted and run, by command.")
	keys, vals := sortedCounts(m.cmdAccepted, &m.cmdMu)
	for i, k := range keys {
		p.sample("canary_commands_accepted_total", float64(vals[i]), label{"cmd", k})
	}
	p.family("canary_commands_refused_total", "counter", "Commands refused, by reason.")
	keys, vals = sortedCounts(m.cmdRefused, &m.cmdMu)
	for i, k := range keys {
		p.sample("canary_commands_refused_total", float64(vals[i]), label{"reason", k})
	}
}

// goMemory reads the runtime's total mapped memory without stopping the
// world (runtime.ReadMemStats would).
func goMemory() float64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/total:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return float64(s[0].Value.Uint64())
}
