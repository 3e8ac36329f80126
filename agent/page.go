package agent

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"slices"
	"strings"
	"time"

	"canary/drivers"
)

// PointView is one point as the status page shows it.
type PointView struct {
	Device, ID, Unit string
	Value            string // "" when never read or not good
	Quality, Reason  string
	TS               time.Time
	Alarm            string // active alarm levels, e.g. "hh"
}

// pointViews is a read-only snapshot of every point's last read sample,
// in config order, taken under each device's lock.
func (a *Agent) pointViews() []PointView {
	alarms := map[string][]string{}
	for _, c := range a.pipe.conditions() {
		if c.Type == "alarm" {
			alarms[c.Point] = append(alarms[c.Point], c.Level)
		}
	}
	var out []PointView
	for _, ds := range a.pipe.order {
		ds.mu.Lock()
		for _, ps := range ds.order {
			out = append(out, viewOf(ds.id, ps.id, a.pipe.units[ps.unit], ps.current, alarms[ps.id]))
		}
		ds.mu.Unlock()
	}
	return out
}

func viewOf(dev, id, unit string, r reading, alarms []string) PointView {
	v := PointView{Device: dev, ID: id, Unit: unit, Quality: "—", Alarm: strings.Join(alarms, ",")}
	if r.ts == 0 {
		return v
	}
	v.TS = time.Unix(0, r.ts)
	v.Quality, v.Reason = r.quality.String(), r.reason.String()
	if r.quality != drivers.Bad {
		v.Value = r.value.String()
	}
	return v
}

// writePage renders the status page. It is plain Go, not html/template:
// the template engine's reflection keeps every exported method of every
// type in the binary, about 2 MB of a 10 MB gateway binary. Every value
// from outside (names, errors, config) goes through text(), which
// escapes it.
func (a *Agent) writePage(w io.Writer) error {
	st, points, now := a.status("online"), a.pointViews(), a.clock.Now()
	p := &page{w: bufio.NewWriter(w)}
	p.raw(pageHead)
	p.raw("<title>Canary ").text(st.Site + "/" + st.Gateway).raw("</title>\n" + pageStyle)
	p.raw("<h1>Canary ").text(st.Site + " / " + st.Gateway).raw(" <small>").
		text(st.Version + " · boot " + st.Boot + " · " + clockTime(now)).raw("</small></h1>\n")
	p.raw("<p>Read-only view. Refreshes every 5 s.</p>\n")
	p.warnings(st.Warnings)
	p.link(st)
	p.alarms(st.Active.Alarms)
	p.conditions(st.Active)
	p.devices(st.Devices)
	p.points(points)
	p.outbox(st.Outbox)
	p.raw("</body></html>\n")
	return p.w.Flush()
}

const pageHead = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
`

const pageStyle = `<style>
body{font:14px system-ui,sans-serif;margin:1em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.bad,.offline,.error{background:#fdd}.uncertain,.warning{background:#ffd}.good,.online{background:#dfd}
.alarm{background:#f88;font-weight:bold}
</style></head><body>
`

// page writes HTML; write errors surface at Flush.
type page struct{ w *bufio.Writer }

func (p *page) raw(s string) *page { p.w.WriteString(s); return p }

func (p *page) text(s string) *page { p.w.WriteString(html.EscapeString(s)); return p }

// table starts a table with an id and header cells.
func (p *page) table(id string, heads ...string) {
	p.raw(`<table id="` + id + `"><tr>`)
	for _, h := range heads {
		p.raw("<th>" + h + "</th>")
	}
	p.raw("</tr>\n")
}

// row writes one row of escaped cells with a CSS class.
func (p *page) row(class string, cells ...string) {
	p.raw(`<tr class="`).text(class).raw(`">`).cells(cells...).raw("</tr>\n")
}

func (p *page) cells(cells ...string) *page {
	for _, c := range cells {
		p.raw("<td>").text(c).raw("</td>")
	}
	return p
}

// none writes the placeholder for an empty section.
func (p *page) none(id, msg string) { p.raw(`<p id="` + id + `">` + msg + "</p>\n") }

func (p *page) warnings(ws []Warning) {
	p.raw("\n<h2>Health</h2>\n")
	if len(ws) == 0 {
		p.none("warnings", "No warnings.")
		return
	}
	p.table("warnings", "severity", "warning", "since", "detail")
	for _, w := range ws {
		p.row(string(w.Severity), string(w.Severity), w.Code, wallTime(w.Since), w.Message)
	}
	p.raw("</table>\n")
}

func (p *page) link(st Status) {
	l := st.Link
	p.raw("\n<h2>Link</h2>\n<table id=\"link\">")
	p.raw("<tr><th>broker</th><td>").text(l.Broker).raw("</td></tr>\n")
	if l.Connected {
		p.raw(`<tr><th>state</th><td class="online">connected since `).text(wallTime(l.Since)).raw("</td></tr>\n")
	} else {
		p.raw(`<tr><th>state</th><td class="offline">down</td></tr>` + "\n")
	}
	if l.LastError != "" {
		p.raw("<tr><th>last error</th><td>").text(l.LastError).raw("</td></tr>\n")
	}
	if l.Plaintext {
		p.raw(`<tr><th>security</th><td class="warning">plaintext</td></tr>` + "\n")
	}
	p.raw(fmt.Sprintf("<tr><th>connects</th><td>%d</td></tr>\n", l.Reconnects))
	if c := st.Config; c != nil {
		cfg := c.State + " " + c.Hash
		if c.Reason != "" {
			cfg += " (" + c.Reason + ")"
		}
		p.raw("<tr><th>config</th><td>").text(cfg).raw("</td></tr>\n")
	}
	p.raw("</table>\n")
}

func (p *page) alarms(as []Condition) {
	p.raw("\n<h2>Active alarms</h2>\n")
	if len(as) == 0 {
		p.none("alarms", "No active alarms.")
		return
	}
	p.table("alarms", "point", "level", "limit", "since", "quality")
	for _, c := range as {
		limit := ""
		if c.Limit != nil {
			limit = fmt.Sprint(*c.Limit)
		}
		p.row("alarm", c.Point, c.Level, limit, wallTime(c.Since), c.Quality)
	}
	p.raw("</table>\n")
}

func (p *page) conditions(a ActiveStatus) {
	p.raw("\n<h2>Interlocks, bypasses, faults</h2>\n")
	if len(a.Interlocks)+len(a.Bypasses)+len(a.Faults) == 0 {
		p.none("conditions", "None.")
		return
	}
	p.table("conditions", "type", "point", "since", "note")
	for _, c := range a.Interlocks {
		p.row("bad", "interlock tripped", c.Point, wallTime(c.Since), "")
	}
	for _, c := range a.Bypasses {
		class, note := "warning", ""
		if c.Overdue {
			class, note = "bad", "overdue"
		}
		p.row(class, "bypass", c.Point, wallTime(c.Since), note)
	}
	for _, c := range a.Faults {
		p.row("uncertain", c.Reason, c.Point, wallTime(c.Since), c.Of)
	}
	p.raw("</table>\n")
}

func (p *page) devices(ds []DeviceStatus) {
	p.raw("\n<h2>Devices</h2>\n")
	p.table("devices", "device", "state", "last good read", "polls", "failures", "latency", "security", "error")
	for _, d := range ds {
		p.raw(`<tr class="`).text(d.State).raw(`">`).cells(d.ID, d.State, wallTime(d.LastGood),
			fmt.Sprint(d.Polls), fmt.Sprint(d.Failures), fmt.Sprint(d.LatencyMS)+" ms")
		if d.Insecure {
			p.raw(`<td class="warning">`).text(d.Security).raw(" (insecure)</td>")
		} else {
			p.raw("<td>").text(d.Security).raw("</td>")
		}
		p.raw("<td>").text(d.LastError).raw("</td></tr>\n")
	}
	p.raw("</table>\n")
}

func (p *page) points(ps []PointView) {
	p.raw("\n<h2>Points</h2>\n")
	p.table("points", "device", "point", "value", "quality", "alarm", "time")
	for _, v := range ps {
		class, q := v.Quality, v.Quality
		if v.Alarm != "" {
			class = "alarm"
		}
		if v.Reason != "" {
			q += " (" + v.Reason + ")"
		}
		p.row(class, v.Device, v.ID, v.Value+" "+v.Unit, q, v.Alarm, clockTime(v.TS))
	}
	p.raw("</table>\n")
}

func (p *page) outbox(o OutboxStatus) {
	p.raw("\n<h2>Outbox</h2>\n")
	p.table("outbox", "lane", "depth", "bytes", "oldest", "dropped")
	names := make([]string, 0, len(o.Lanes))
	for n := range o.Lanes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		l := o.Lanes[n]
		p.row("", n, fmt.Sprint(l.Depth), fmt.Sprint(l.Bytes), fmt.Sprintf("%.0f s", l.OldestAge), fmt.Sprint(l.Dropped))
	}
	p.raw("</table>\n")
	p.raw(fmt.Sprintf("<p>File %d bytes of a %d-byte budget.</p>\n", o.Bytes, o.MaxBytes))
}

// wallTime formats a Unix ms stamp; "—" for none.
func wallTime(ms int64) string {
	if ms == 0 {
		return "—"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05Z")
}

// clockTime formats a sample time of day; "—" for never.
func clockTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("15:04:05.000Z")
}
