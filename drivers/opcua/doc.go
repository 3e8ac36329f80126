// Package opcua reads SIS and interlock states from OPC UA servers with
// github.com/gopcua/opcua, read-only.
//
// One Source per device, one session per Source, one goroutine per Source:
// a slow consumer or a dead server stalls only its own device.
//
// # Reading
//
// Subscriptions first: one subscription per session with a monitored item
// per point (sampling interval, queue size, absolute or percent deadband;
// client handle = point index). A server that refuses subscriptions
// (BadServiceUnsupported, BadTooManySubscriptions) is polled every
// interval instead; mode: poll forces that. Every Sample carries the
// server's source timestamp (else its server timestamp). Status codes map
// to quality: Good → good; Uncertain → uncertain; Bad → bad with a reason
// (config for unknown nodes, type mismatches and refused filters,
// sensor_fault for BadSensorFailure/BadDeviceFailure, out_of_range,
// maintenance for BadOutOfService, otherwise comm). A Bad sample never has
// a value. Points named with nsu=URI are resolved against the server's
// namespace array after every connect. In subscribe mode the health
// check below also emits, when it succeeds, a Scan with no Samples: a
// device whose values never change still shows it is alive and online.
// max_interval is therefore no heartbeat for OPC UA points (docs/opcua.md).
//
// # Reconnecting
//
// The library's auto-reconnect is off; Run owns it. A session ends when
// the library reports the channel Disconnected/Closed, when a health read
// of Server_ServerStatus_State fails (every interval, bounded by timeout),
// or when the subscription reports a Bad status. Run then emits one Scan
// with Err set and every point Bad/comm, and retries after a jittered
// exponential back-off (BackoffMin..BackoffMax, from [d/2, d]); every
// failed attempt emits one such Scan. A new session resolves namespaces
// again, reads every point once (a Scan with Err nil: the device is
// online, as of now) and recreates the subscription and all monitored
// items. A subscription scan holds only the points that changed.
//
// # Security
//
// Modes None, Sign, SignAndEncrypt; policies Basic256Sha256,
// Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss. Before each connect the
// server's endpoint certificate must match server_cert_sha256 or a file in
// trust_dir, else ErrUntrustedServer names its SHA-256. The client
// certificate is generated once into {state_dir}/opcua/client.{crt,key}
// (RSA 2048, 10 years, SAN URI = application URI) and reused. Certs lists
// the certificates a Source presents (drivers.CertReporter, for the agent's
// cert_expiring warning) and Links its security and reconnect count
// (drivers.LinkReporter). Mode None to a non-loopback host needs
// allow_insecure and shows as Insecure in Info and Links.
//
// # Read-only
//
// The session is held as the unexported conn interface (Read, Browse,
// NamespaceArray, Subscribe, State, Close). readonly_test.go fails if any
// non-test file names Write, Call, node-management or HistoryUpdate
// services, or Send.
package opcua
