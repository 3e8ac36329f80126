// Package drivers is the contract between Canary's agent and the protocols it
// speaks: a Source reads a field bus and emits Scans of Samples, a Sink carries
// encoded messages to the platform, and a Registry (a value, not a global)
// maps driver names to their constructors so tests can build one that holds
// only fakes.
//
// Guarantees every Source gives:
//
//   - Read-only towards the plant. No Source can express a write.
//   - Every configured point appears in every Scan, with a Quality. A failed
//     read yields Bad samples with ReasonComm (or a more precise reason),
//     never a missing, stale or zero value.
//   - Timestamps are the source's: device time where the protocol carries
//     one (OPC UA), otherwise the time the read completed.
//
// A subscribing Source (OPC UA) is the exception to "every point in every
// Scan": a data-change Scan holds only the points that changed, and after
// each successful health check it emits a Scan with Err nil and no
// Samples. That empty Scan reports nothing; it tells the agent the device
// is alive and online (it counts as a poll).
//
// Optional interfaces a Source may implement (report.go): CertReporter
// lists the client certificates it presents, for expiry warnings;
// LinkReporter describes its connections (security, reconnects) for
// status and metrics.
//
// Sinks are transport only: they never store or resend on their own. The
// agent's outbox is the store; a Delivery reports the broker's
// acknowledgement of exactly one message.
package drivers
