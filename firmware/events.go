package firmware

import "time"

// Kind is what happened to an update. The agent turns these into
// `firmware` wire events.
type Kind string

// Event kinds, in the order an update goes through them.
const (
	Downloading Kind = "downloading" // Done of Total bytes
	Installed   Kind = "installed"   // verified and written to the inactive slot, pointer switched
	Trial       Kind = "trial"       // the launcher started Version on trial (boot Boots)
	Committed   Kind = "committed"   // Version became healthy; it stays
	RolledBack  Kind = "rolled_back" // Version failed its trial; From runs again
	Rejected    Kind = "rejected"    // Reason says why; nothing changed
)

// Event is one step of an update.
type Event struct {
	Kind    Kind      `json:"kind"`
	Version string    `json:"version,omitempty"` // the version the event is about
	From    string    `json:"from,omitempty"`    // the version it replaces or returns to
	Reason  string    `json:"reason,omitempty"`
	Slot    string    `json:"slot,omitempty"`
	Boots   int       `json:"boots,omitempty"`
	Done    int64     `json:"done,omitempty"`
	Total   int64     `json:"total,omitempty"`
	Time    time.Time `json:"time"`
}

// Notify receives events as they happen; it must not block.
type Notify func(Event)

func (n Notify) send(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if n != nil {
		n(e)
	}
}
