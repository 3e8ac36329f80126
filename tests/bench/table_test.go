package bench

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"canary/tests/harness"
)

// row is one line of the results table.
type row struct {
	scenario      string
	points        int
	iv            time.Duration
	samplesPerSec float64
	cpuPerM       float64 // agent CPU seconds per million samples delivered
	perCPU        float64 // samples delivered per agent CPU second
	rssAvg        float64
	rssMax        float64
	anonMax       float64
	p50, p99      float64 // read→deliver ms
	lost, dups    int64
	note          string
}

var (
	rowsMu sync.Mutex
	rows   []row
)

func newRow(scenario string, points int, iv time.Duration, u usage, w window) row {
	r := row{scenario: scenario, points: points, iv: iv, rssAvg: u.rssAvg, rssMax: u.rssMax, anonMax: u.anonMax,
		p50: w.hist.quantile(0.50), p99: w.hist.quantile(0.99)}
	if sec := w.to.Sub(w.from).Seconds(); sec > 0 {
		r.samplesPerSec = float64(w.samples) / sec
	}
	if w.samples > 0 {
		r.cpuPerM = u.cpuSec / (float64(w.samples) / 1e6)
	}
	if u.cpuSec > 0 {
		r.perCPU = float64(w.samples) / u.cpuSec
	}
	return r
}

// report adds the row to the table and reports it as benchmark metrics.
func (r row) report(b *testing.B) {
	b.ReportMetric(0, "ns/op") // a fixed window: ns/op means nothing
	b.ReportMetric(r.samplesPerSec, "samples/s")
	b.ReportMetric(r.cpuPerM, "cpu-s/Msample")
	b.ReportMetric(r.perCPU, "samples/cpu-s")
	b.ReportMetric(r.rssAvg, "rss-avg-MiB")
	b.ReportMetric(r.rssMax, "rss-max-MiB")
	b.ReportMetric(r.anonMax, "anon-max-MiB")
	b.ReportMetric(r.p50, "p50-ms")
	b.ReportMetric(r.p99, "p99-ms")
	b.ReportMetric(float64(r.lost), "lost")
	b.ReportMetric(float64(r.dups), "dups")
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
}

// printTable writes the table of every scenario run.
func printTable(w *os.File) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	if len(rows) == 0 {
		if !testing.Short() {
			fmt.Fprintln(w, "\nno end-to-end scenario ran: -v shows why (mosquitto not installed, or none matched -bench)")
		}
		return
	}
	fmt.Fprintln(w, "\n| scenario | points | interval | delivered samples/s | agent CPU-s / M samples | samples / CPU-s | RSS avg / max MiB (anon max) | read→deliver p50 / p99 ms | lost / dup | notes |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %d | %v | %s | %.2f | %s | %.1f / %.1f (%.1f) | %s / %s | %d / %d | %s |\n",
			r.scenario, r.points, r.iv, thousands(r.samplesPerSec), r.cpuPerM, thousands(r.perCPU),
			r.rssAvg, r.rssMax, r.anonMax, ms(r.p50), ms(r.p99), r.lost, r.dups, r.note)
	}
}

func ms(v float64) string {
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// thousands formats n with thin separators: 1 234 567.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func TestMain(m *testing.M) {
	harness.Release = true // measure the agent gateways run
	harness.Main(m, func() { printTable(os.Stdout) })
}
