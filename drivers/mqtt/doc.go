// Package mqtt is Canary's uplink: a drivers.Sink that publishes to an MQTT
// 3.1.1 broker at QoS 1 with paho.mqtt.golang v1.5.1 as transport only.
//
// # Guarantee
//
// A Delivery reports success only when the broker's PUBACK for that very
// message arrived on the connection that carried it. Everything else —
// connection lost, write error, write timeout, no PUBACK within
// Options.AckTimeout, Close, ctx ending during the hand-off — is reported
// as an error, and errors caused by the link wrap drivers.ErrNotConnected.
// A false error costs a duplicate (the outbox resends; the platform drops
// it by boot+seq); a false success would lose a record, so where the
// outcome is uncertain the Delivery fails.
//
// # Connections
//
// Connect dials once; the agent owns retries and back-off. Every Connect
// builds a fresh paho client: a paho client that was disconnected keeps
// message ids, tokens and status from its previous life, which is exactly
// the state that lies about deliveries. Lost closes when that connection
// ends (paho's connection-lost handler) or on Close. Subscriptions are per
// connection: the caller subscribes again after each Connect. Subscription
// handlers run on paho goroutines, possibly concurrently; they must be
// quick and must not call the Sink synchronously.
//
// # paho pitfalls and how they are handled
//
//   - Tokens complete without delivery. Publish tokens complete on PUBACK
//     (net.go startIncomingComms: getToken(id).flowComplete(), no error)
//     but also when the connection drops (messageids.go cleanUp sets
//     "connection lost before Publish completed"), on a write error
//     (net.go startOutgoingComms: setError) or a hand-off timeout
//     (client.go Publish: "publish was broken by timeout"). In v1.5.1
//     every completion other than PUBACK carries an error, so outcome()
//     treats "done with nil error" as PUBACK and anything else as failure.
//     Older paho versions completed such tokens without an error; a version
//     bump must re-check this (see outcome in publish.go).
//   - Ordering on loss. internalConnLost (client.go) stops the comms
//     workers and waits for them (so every PUBACK that was read has already
//     completed its token), then runs cleanUp, then starts the
//     connection-lost handler, which closes Lost. So a token still pending
//     when Lost is closed can never be acknowledged on this connection and
//     its Delivery fails at once. Tokens created in the race between
//     Publish's IsConnected check and cleanUp are never completed by paho;
//     Lost (or AckTimeout) resolves them.
//   - Publish blocks. paho's Publish waits on an unbuffered channel for up
//     to WriteTimeout (set to ConnectTimeout) and forever if it is zero;
//     Sink.Publish hands off in a goroutine and stops waiting on ctx or
//     loss. MaxInflight bounds the goroutines and unacknowledged messages.
//   - Auto-reconnect resends from paho's store and FileStore never fsyncs:
//     AutoReconnect, ConnectRetry and ResumeSubs are off, CleanSession is on
//     and the store is in memory. The outbox is the store.
//   - Protocol fallback: with version 0 paho retries a refused CONNECT as
//     MQTT 3.1; the version is pinned to 4 (3.1.1).
//   - Disconnect: paho's Disconnect(quiesce) may return before teardown
//     ends, so a PUBACK could in theory still arrive after Close; Close
//     closes Lost first, so such a Delivery reports failure (a duplicate,
//     not a loss). Close sends DISCONNECT, so the broker discards the will.
//   - Duplicate PUBACK: paho completes whatever token holds the packet id;
//     a broker that acknowledged an id twice could complete a reuse of
//     that id. Ids cycle through 65535 values per connection, and each
//     connection has a fresh id space, so this needs a broken broker.
//
// # Secrets
//
// The password is passed only to paho; it is never logged, and Endpoint
// and errors show the URL without user information. paho's own loggers are
// left silent.
package mqtt
