package agent

import (
	"html/template"
	"io"
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
			out = append(out, viewOf(ds.id, ps.id, ps.unit, ps.current, alarms[ps.id]))
		}
		ds.mu.Unlock()
	}
	return out
}

func viewOf(dev, id, unit string, s drivers.Sample, alarms []string) PointView {
	v := PointView{Device: dev, ID: id, Unit: unit, Quality: "—", TS: s.TS, Alarm: strings.Join(alarms, ",")}
	if s.TS.IsZero() {
		return v
	}
	v.Quality, v.Reason = s.Quality.String(), string(s.Reason)
	if s.Quality != drivers.Bad {
		v.Value = s.Value.String()
	}
	return v
}

type pageData struct {
	Status
	Points []PointView
	Now    time.Time
}

func (a *Agent) writePage(w io.Writer) error {
	return pageTmpl.Execute(w, pageData{Status: a.status("online"), Points: a.pointViews(), Now: a.clock.Now()})
}

var pageFuncs = template.FuncMap{
	"ms": func(ms int64) string {
		if ms == 0 {
			return "—"
		}
		return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05Z")
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("15:04:05.000Z")
	},
}

var pageTmpl = template.Must(template.New("page").Funcs(pageFuncs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Canary {{.Site}}/{{.Gateway}}</title>
<style>
body{font:14px system-ui,sans-serif;margin:1em;color:#222}
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
.bad,.offline,.error{background:#fdd}.uncertain,.warning{background:#ffd}.good,.online{background:#dfd}
.alarm{background:#f88;font-weight:bold}
</style></head><body>
<h1>Canary {{.Site}} / {{.Gateway}} <small>{{.Version}} · boot {{.Boot}} · {{ts .Now}}</small></h1>
<p>Read-only view. Refreshes every 5 s.</p>

<h2>Health</h2>
{{if .Warnings}}<table id="warnings"><tr><th>severity</th><th>warning</th><th>since</th><th>detail</th></tr>
{{range .Warnings}}<tr class="{{.Severity}}"><td>{{.Severity}}</td><td>{{.Code}}</td><td>{{ms .Since}}</td><td>{{.Message}}</td></tr>
{{end}}</table>{{else}}<p id="warnings">No warnings.</p>{{end}}

<h2>Link</h2>
<table id="link"><tr><th>broker</th><td>{{.Link.Broker}}</td></tr>
<tr><th>state</th><td class="{{if .Link.Connected}}online{{else}}offline{{end}}">{{if .Link.Connected}}connected since {{ms .Link.Since}}{{else}}down{{end}}</td></tr>
{{if .Link.LastError}}<tr><th>last error</th><td>{{.Link.LastError}}</td></tr>{{end}}
{{if .Link.Plaintext}}<tr><th>security</th><td class="warning">plaintext</td></tr>{{end}}
<tr><th>connects</th><td>{{.Link.Reconnects}}</td></tr>
{{with .Config}}<tr><th>config</th><td>{{.State}} {{.Hash}}{{if .Reason}} ({{.Reason}}){{end}}</td></tr>{{end}}
</table>

<h2>Active alarms</h2>
{{if .Active.Alarms}}<table id="alarms"><tr><th>point</th><th>level</th><th>limit</th><th>since</th><th>quality</th></tr>
{{range .Active.Alarms}}<tr class="alarm"><td>{{.Point}}</td><td>{{.Level}}</td><td>{{with .Limit}}{{.}}{{end}}</td><td>{{ms .Since}}</td><td>{{.Quality}}</td></tr>
{{end}}</table>{{else}}<p id="alarms">No active alarms.</p>{{end}}

<h2>Interlocks, bypasses, faults</h2>
{{if or .Active.Interlocks .Active.Bypasses .Active.Faults}}<table id="conditions"><tr><th>type</th><th>point</th><th>since</th><th>note</th></tr>
{{range .Active.Interlocks}}<tr class="bad"><td>interlock tripped</td><td>{{.Point}}</td><td>{{ms .Since}}</td><td></td></tr>{{end}}
{{range .Active.Bypasses}}<tr class="{{if .Overdue}}bad{{else}}warning{{end}}"><td>bypass</td><td>{{.Point}}</td><td>{{ms .Since}}</td><td>{{if .Overdue}}overdue{{end}}</td></tr>{{end}}
{{range .Active.Faults}}<tr class="uncertain"><td>{{.Reason}}</td><td>{{.Point}}</td><td>{{ms .Since}}</td><td>{{.Of}}</td></tr>{{end}}
</table>{{else}}<p id="conditions">None.</p>{{end}}

<h2>Devices</h2>
<table id="devices"><tr><th>device</th><th>state</th><th>last good read</th><th>polls</th><th>failures</th><th>latency</th><th>security</th><th>error</th></tr>
{{range .Devices}}<tr class="{{.State}}"><td>{{.ID}}</td><td>{{.State}}</td><td>{{ms .LastGood}}</td><td>{{.Polls}}</td><td>{{.Failures}}</td><td>{{.LatencyMS}} ms</td><td{{if .Insecure}} class="warning"{{end}}>{{.Security}}{{if .Insecure}} (insecure){{end}}</td><td>{{.LastError}}</td></tr>
{{end}}</table>

<h2>Points</h2>
<table id="points"><tr><th>device</th><th>point</th><th>value</th><th>quality</th><th>alarm</th><th>time</th></tr>
{{range .Points}}<tr class="{{if .Alarm}}alarm{{else}}{{.Quality}}{{end}}"><td>{{.Device}}</td><td>{{.ID}}</td><td>{{.Value}} {{.Unit}}</td><td>{{.Quality}}{{if .Reason}} ({{.Reason}}){{end}}</td><td>{{.Alarm}}</td><td>{{ts .TS}}</td></tr>
{{end}}</table>

<h2>Outbox</h2>
<table id="outbox"><tr><th>lane</th><th>depth</th><th>bytes</th><th>oldest</th><th>dropped</th></tr>
{{range $name, $l := .Outbox.Lanes}}<tr><td>{{$name}}</td><td>{{$l.Depth}}</td><td>{{$l.Bytes}}</td><td>{{printf "%.0f" $l.OldestAge}} s</td><td>{{$l.Dropped}}</td></tr>
{{end}}</table>
<p>File {{.Outbox.Bytes}} bytes of a {{.Outbox.MaxBytes}}-byte budget.</p>
</body></html>
`))
