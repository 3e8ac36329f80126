package agent

import (
	"strings"
	"testing"
	"time"

	"canary/buffer"
)

// A stored record whose compact body cannot be decoded (damage the open
// check did not see) is not retried forever in front of its lane: it is
// dropped, a gap event with reason corrupt names its seq, and the records
// after it are delivered.
func TestUndecodableRecordDroppedWithGap(t *testing.T) {
	sink := &fakeSink{}
	a := testAgent(t, &fakeSource{}, sink)
	bad, err := a.box.Append([]buffer.Record{{Lane: buffer.LaneData, Boot: "old", Payload: []byte{0xCB, 0, 0x7F}}})
	if err != nil {
		t.Fatal(err)
	}
	stop := runAgent(a, sink)
	defer stop()
	waitFor(t, 5*time.Second, func() bool {
		for _, e := range sink.events(t) {
			if e.Type == "gap" && e.Reason == "corrupt" {
				return true
			}
		}
		return false
	})
	var gap bool
	for _, e := range sink.events(t) {
		if e.Type == "gap" && e.Reason == "corrupt" {
			gap = e.Lane == "data" && e.FromSeq == bad[0].Seq && e.ToSeq == bad[0].Seq && e.Records == 1
		}
	}
	if !gap {
		t.Errorf("gap event does not name data seq %d: %+v", bad[0].Seq, sink.events(t))
	}
	waitFor(t, 5*time.Second, func() bool {
		for _, m := range sink.messages() {
			if strings.HasSuffix(m.Topic, "/data") {
				return true
			}
		}
		return false
	})
	for _, m := range sink.messages() {
		if strings.HasSuffix(m.Topic, "/data") && strings.Contains(string(m.Payload), `"boot":"old"`) {
			t.Errorf("the damaged record was sent: %s", m.Payload)
		}
	}
}
