package agent

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

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
