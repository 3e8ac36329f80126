package drivers

import "time"

// Cert is a client certificate a Source presents to its peer.
type Cert struct {
	// Name is the subject of the agent's cert_expiring warning: the
	// device id, with a suffix when a device presents several ("sis/user").
	Name     string
	File     string // where it was read, for the warning's message
	NotAfter time.Time
}

// CertReporter is an optional Source interface: a Source that presents
// client certificates lists them so the agent can warn before they
// expire. Certs reads the files again at each call (a renewed certificate
// clears the warning) and leaves out a certificate not created yet or
// unreadable (connecting reports that). It is called rarely (at start,
// then daily) from a goroutine other than Run's.
type CertReporter interface {
	Certs() []Cert
}

// Link is how a Source reaches one of its devices, for status and metrics.
type Link struct {
	Device string
	// Security is the protection of the connection in the protocol's own
	// terms ("SignAndEncrypt/Basic256Sha256", "None"); "" when the protocol
	// has none to speak of.
	Security string
	// Insecure marks a connection across a network without authentication
	// or encryption, accepted because the config spells it out.
	Insecure bool
	// Reconnects counts connection attempts after the first one.
	Reconnects int64
}

// LinkReporter is an optional Source interface: a Source that describes
// its devices' connections. Links is cheap (no I/O) and safe to call from
// any goroutine while Run runs.
type LinkReporter interface {
	Links() []Link
}
