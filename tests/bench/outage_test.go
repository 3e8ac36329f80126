package bench

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkOutage scans 10,000 points every second, stops the broker for
// CANARY_BENCH_OUTAGE (default 5 minutes) and starts it again: how soon
// delivery resumes, how long the backlog takes to drain (live data keeps
// flowing meanwhile), what the agent's memory does throughout, and
// whether every record arrived. The agent runs with its default
// reconnect back-off. It ignores b.N.
func BenchmarkOutage(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark: skipped with -short")
	}
	outage := envDuration("CANARY_BENCH_OUTAGE", 5*time.Minute)
	const points = 10000
	b.Run(fmt.Sprintf("points=%d/interval=1s/outage=%v", points, outage), func(b *testing.B) {
		r := startRig(b, points, time.Second, rigOptions{persistent: true})
		b.ResetTimer()
		r.plat.openWindow(time.Now())
		before := r.watch(b, 10*time.Second, nil)
		w := r.plat.closeWindow()

		if err := r.broker.Stop(); err != nil {
			b.Fatal(err)
		}
		during := r.watch(b, outage, nil)
		r.plat.resetFirst()
		if err := r.broker.Start(); err != nil {
			b.Fatal(err)
		}
		back := time.Now()
		resume := r.watch(b, 2*time.Minute, func() bool { return !r.plat.firstArrival().IsZero() })
		first := r.plat.firstArrival()
		drain := r.watch(b, 20*time.Minute, func() bool { return r.drained() })
		drained := time.Now()
		b.StopTimer()
		r.stop(b)
		lost, dups := r.plat.integrity()
		if first.IsZero() {
			b.Fatalf("nothing delivered within 2 min of the broker's return\n%s", r.agent.StderrTail(4000))
		}

		all := append(append(append([]float64(nil), rssOf(before)...), rssOf(during)...), rssOf(resume)...)
		all = append(all, rssOf(drain)...)
		row := newRow("outage", points, time.Second, before, w)
		row.lost, row.dups = lost, dups
		row.rssAvg, row.rssMax = mean(all), slices.Max(all)
		row.anonMax = max(before.anonMax, during.anonMax, resume.anonMax, drain.anonMax)
		row.note = fmt.Sprintf("outage %v: RSS %.1f MiB before, %.1f–%.1f during, max %.1f draining; delivery resumed %.1f s after the broker, drained in %.1f s",
			outage, before.rssAvg, minOf(rssOf(during)), during.rssMax, drain.rssMax, first.Sub(back).Seconds(), drained.Sub(back).Seconds())
		b.ReportMetric(first.Sub(back).Seconds(), "resume-s")
		b.ReportMetric(drained.Sub(back).Seconds(), "drain-s")
		b.ReportMetric(during.rssMax, "rss-outage-max-MiB")
		b.ReportMetric(drain.rssMax, "rss-drain-max-MiB")
		b.Log(row.note)
		row.report(b)
	})
}

// drained reports whether the agent's outbox is empty.
func (r *rig) drained() bool {
	st, err := agentStatus(r.http)
	if err != nil {
		return false
	}
	return st.Outbox.Lanes["data"].Depth == 0 && st.Outbox.Lanes["event"].Depth == 0
}

func rssOf(u usage) []float64 {
	out := make([]float64, len(u.rss))
	for i, m := range u.rss {
		out[i] = m.RSS
	}
	return out
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x / float64(len(v))
	}
	return s
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Min(v)
}

// BenchmarkAlarmLatency flips one register across an alarm limit on a
// rack of 1,000 changing points and times each flip to the `alarm` event
// (active, then cleared) at the platform. It ignores b.N.
func BenchmarkAlarmLatency(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end benchmark: skipped with -short")
	}
	for _, iv := range []time.Duration{100 * time.Millisecond, time.Second} {
		b.Run(fmt.Sprintf("points=1000/interval=%v", iv), func(b *testing.B) { alarmLatency(b, iv) })
	}
}

func alarmLatency(b *testing.B, iv time.Duration) {
	const points = 1000
	extra := fmt.Sprintf("      - {id: ALM, table: holding, address: %d, type: uint16, alarms: {h: 100}}\n", points)
	r := startRig(b, points, iv, rigOptions{extra: extra})
	flips := 24
	period := max(700*time.Millisecond, 3*iv) // each flip seen by its own scans
	if iv >= time.Second {
		flips = 12
	}
	b.ResetTimer()
	r.plat.openWindow(time.Now())
	var set []time.Time
	u := r.watch(b, time.Duration(flips)*period+2*iv+time.Second, func() bool {
		if len(set) < flips && (len(set) == 0 || time.Since(set[len(set)-1]) >= period) {
			v := uint16(0)
			if len(set)%2 == 0 {
				v = 200
			}
			set = append(set, time.Now())
			r.srv.SetHolding(1, points, v)
		}
		return false
	})
	w := r.plat.closeWindow()
	b.StopTimer()
	r.stop(b)
	lat := &latencyHist{}
	var seen []alarmSeen
	for _, a := range r.plat.alarmEvents() {
		if a.point == "ALM" && (a.state == "active" || a.state == "cleared") {
			seen = append(seen, a)
		}
	}
	for i, a := range seen {
		if i < len(set) {
			lat.add(a.at.Sub(set[i]).Milliseconds())
		}
	}
	if len(seen) != len(set) {
		b.Errorf("%d alarm events for %d flips", len(seen), len(set))
	}
	row := newRow("alarm", points, iv, u, w)
	row.note = fmt.Sprintf("register flip → alarm event: p50 %s, p99 %s, max %s ms over %d events",
		ms(lat.quantile(.5)), ms(lat.quantile(.99)), ms(lat.quantile(1)), len(seen))
	b.ReportMetric(lat.quantile(.5), "alarm-p50-ms")
	b.ReportMetric(lat.quantile(.99), "alarm-p99-ms")
	b.Log(row.note)
	row.report(b)
}
