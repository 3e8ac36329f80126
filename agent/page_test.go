package agent

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"canary/config"
	"canary/drivers"
)

// Text from outside (a device's error, a point's string value) is
// escaped on the status page: it cannot inject markup.
func TestStatusPageEscapes(t *testing.T) {
	a := testAgent(t, &fakeSource{}, &fakeSink{})
	now := time.Now()
	a.pipe.process(&drivers.Scan{Device: "dev", At: now, Err: errors.New(`<script>alert("x")</script>`),
		Samples: []drivers.Sample{{Point: "p", TS: now, Value: drivers.String("<b>&</b>"), Quality: drivers.Uncertain}}}, now)
	var page bytes.Buffer
	if err := a.writePage(&page); err != nil {
		t.Fatal(err)
	}
	out := page.String()
	if strings.Contains(out, "<script>") || strings.Contains(out, "<b>&") {
		t.Errorf("markup from outside not escaped:\n%s", out)
	}
	for _, want := range []string{`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`, `<table id="devices">`, `<tr class="offline"><td>dev</td>`} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %s:\n%s", want, out)
		}
	}
}

// The live values on the page carry each point's own unit (units are
// kept once for all points that share them).
func TestPointViewsUnits(t *testing.T) {
	cfg := &config.Config{Devices: []config.Device{
		{ID: "d1", Driver: "modbus", Points: []config.Point{{ID: "a", Unit: "%LEL"}, {ID: "b", Unit: "ppm"}, {ID: "c"}}},
		{ID: "d2", Driver: "modbus", Points: []config.Point{{ID: "d", Unit: "ppm"}, {ID: "e", Unit: "%LEL"}}},
	}}
	a := &Agent{pipe: newPipeline(cfg, &idGen{boot: "b"})}
	var got []string
	for _, v := range a.pointViews() {
		got = append(got, v.ID+"="+v.Unit)
	}
	if want := "a=%LEL b=ppm c= d=ppm e=%LEL"; strings.Join(got, " ") != want {
		t.Errorf("units on the page: %v, want %s", got, want)
	}
}
