package wire

import "encoding/json"

// Event types.
const (
	TypeAlarm     = "alarm"
	TypeInterlock = "interlock"
	TypeBypass    = "bypass"
	TypeFault     = "fault"
	TypeDevice    = "device"
	TypeGap       = "gap"
	TypeAgent     = "agent"
	TypeFirmware  = "firmware"
)

// Event is one entry of an event message. Fields that do not apply to a
// type are omitted.
type Event struct {
	ID      string   `json:"id"`
	TS      int64    `json:"ts"` // Unix ms: the sample's source time, else agent time
	Type    string   `json:"type"`
	Point   string   `json:"point,omitempty"`
	Device  string   `json:"device,omitempty"`
	State   string   `json:"state"`
	Level   string   `json:"level,omitempty"`
	Value   *float64 `json:"value,omitempty"`
	Limit   *float64 `json:"limit,omitempty"`
	Quality string   `json:"quality,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Error   string   `json:"error,omitempty"`
	Since   int64    `json:"since,omitempty"` // start of the condition (bypass on, alarm active), Unix ms
	Of      string   `json:"of,omitempty"`    // fault: the point the fault or maintenance bit qualifies

	// gap
	Lane    string `json:"lane,omitempty"`
	FromSeq uint64 `json:"from_seq,omitempty"`
	ToSeq   uint64 `json:"to_seq,omitempty"`
	Records int    `json:"records,omitempty"`

	// agent, firmware
	Version string `json:"version,omitempty"`
	Detail  string `json:"detail,omitempty"`

	// firmware: the version replaced or returned to, the slot, the trial
	// start count, download progress in bytes
	From  string `json:"from,omitempty"`
	Slot  string `json:"slot,omitempty"`
	Boots int    `json:"boots,omitempty"`
	Done  int64  `json:"done,omitempty"`
	Total int64  `json:"total,omitempty"`
}

// AppendEvents appends the body of an event record.
func AppendEvents(dst []byte, historical bool, evs []Event) []byte {
	b, _ := json.Marshal(evs) // Event has no field json can fail on
	dst = appendHistorical(dst, historical)
	dst = append(dst, `,"events":`...)
	return append(dst, b...)
}

// Message is a decoded data or event message, for tests and tools.
type Message struct {
	Envelope
	Samples []Sample `json:"samples,omitempty"`
	Events  []Event  `json:"events,omitempty"`
}

// Sample is a decoded sample.
type Sample struct {
	Point   string `json:"point"`
	TS      int64  `json:"ts"`
	Value   any    `json:"value"`
	Quality string `json:"quality"`
	Reason  string `json:"reason,omitempty"`
}

// Decode parses a data or event message strictly enough for tests.
func Decode(b []byte) (Message, error) {
	var m Message
	err := json.Unmarshal(b, &m)
	return m, err
}
