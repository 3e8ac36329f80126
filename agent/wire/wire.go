// Package wire is Canary's MQTT wire format v1 (JSON, UTF-8).
//
// Every message on P/data and P/event is an envelope
//
//	{"schema":"canary/v1","site":…,"gateway":…,"boot":…,"seq":N,"historical":false, <body>}
//
// where body is `"historical":…,"samples":[…]` or `"historical":…,"events":[…]`.
// The outbox stores only the body, made once when the record is made: a
// compact body for data (compact.go), the JSON body for events; FrameStored
// wraps it at send time, turning a compact body into its JSON body (a
// deterministic decoding, so a resend is the same bytes). `historical` is decided when the record is
// made (the uplink was down then), so a record resent after a lost PUBACK is
// byte for byte the same message. `seq` is per lane and increases by one per
// record; it never repeats for a gateway, across restarts too, so the
// platform deduplicates on (lane, seq) or (boot, seq) and sees evictions as
// gaps (also announced by a `gap` event).
package wire

import (
	"encoding/json"
	"strconv"

	"canary/drivers"
)

// Schema is the envelope's schema name.
const Schema = "canary/v1"

// Topics are the topics of one gateway, P = prefix/site/gateway.
type Topics struct {
	Data, Event, Status, Cmd, CmdReply string
}

// NewTopics builds the topics under prefix/site/gateway.
func NewTopics(prefix, site, gateway string) Topics {
	p := prefix + "/" + site + "/" + gateway
	return Topics{Data: p + "/data", Event: p + "/event", Status: p + "/status", Cmd: p + "/cmd", CmdReply: p + "/cmd/reply"}
}

// Envelope is the part every message shares.
type Envelope struct {
	Schema     string `json:"schema"`
	Site       string `json:"site"`
	Gateway    string `json:"gateway"`
	Boot       string `json:"boot"`
	Seq        uint64 `json:"seq"`
	Historical bool   `json:"historical"`
}

// Framer wraps stored bodies into envelopes.
type Framer struct {
	head []byte // {"schema":"canary/v1","site":"…","gateway":"…","boot":
}

// NewFramer precomputes the constant head of every envelope.
func NewFramer(site, gateway string) *Framer {
	b := []byte(`{"schema":"` + Schema + `","site":`)
	b = appendString(b, site)
	b = append(b, `,"gateway":`...)
	b = appendString(b, gateway)
	b = append(b, `,"boot":`...)
	return &Framer{head: b}
}

// Frame appends the message for one stored body to dst.
func (f *Framer) Frame(dst []byte, boot string, seq uint64, body []byte) []byte {
	dst = f.appendHead(dst, boot, seq)
	if len(body) > 0 {
		dst = append(dst, ',')
		dst = append(dst, body...)
	}
	return append(dst, '}')
}

// FrameStored is Frame for a body as the outbox keeps it: a compact data
// body is turned into its JSON body (AppendBody). An error means the
// stored body is damaged; dst is then returned unchanged.
func (f *Framer) FrameStored(dst []byte, boot string, seq uint64, body []byte) ([]byte, error) {
	if !IsCompact(body) {
		return f.Frame(dst, boot, seq, body), nil
	}
	start := len(dst)
	dst = append(f.appendHead(dst, boot, seq), ',')
	dst, err := AppendBody(dst, body)
	if err != nil {
		return dst[:start], err
	}
	return append(dst, '}'), nil
}

// appendHead appends the envelope up to and including seq.
func (f *Framer) appendHead(dst []byte, boot string, seq uint64) []byte {
	dst = append(dst, f.head...)
	dst = appendString(dst, boot)
	dst = append(dst, `,"seq":`...)
	return strconv.AppendUint(dst, seq, 10)
}

// appendHistorical starts a body.
func appendHistorical(dst []byte, historical bool) []byte {
	dst = append(dst, `"historical":`...)
	return strconv.AppendBool(dst, historical)
}

// AppendSamples appends the JSON body of a data record. The agent stores
// compact bodies instead; this is the reference the compact decoder's
// output is tested against, and the body older agents stored.
func AppendSamples(dst []byte, historical bool, samples []drivers.Sample) []byte {
	dst = appendHistorical(dst, historical)
	dst = append(dst, `,"samples":[`...)
	for i := range samples {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendSample(dst, &samples[i])
	}
	return append(dst, ']')
}

// AppendSample appends one sample object.
func AppendSample(dst []byte, s *drivers.Sample) []byte {
	dst = append(dst, `{"point":`...)
	dst = appendString(dst, s.Point)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, s.TS.UnixMilli(), 10)
	dst = append(dst, `,"value":`...)
	dst = s.Value.AppendJSON(dst)
	dst = append(dst, `,"quality":"`...)
	dst = append(dst, s.Quality.String()...)
	dst = append(dst, '"')
	if s.Reason != drivers.ReasonNone {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, s.Reason.String())
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string. Plain ASCII without specials is
// copied; anything else goes through encoding/json for exact escaping.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
