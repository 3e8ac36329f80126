// Package mqtttest provides real MQTT peers on loopback for tests, the demo
// and the benchmark harness:
//
//   - Broker: an in-process mochi-mqtt broker with optional credentials and
//     TLS, and outage knobs (Stop drops every connection without DISCONNECT
//     and keeps the port for Start; DropClient cuts one client, so the
//     broker publishes its will). Its inline Recorder survives outages.
//   - Mosquitto: a real mosquitto process (Stop = SIGTERM, Kill = SIGKILL,
//     Start = same port and config). StartMosquitto skips the test when
//     mosquitto is not installed, unless CI=true.
//   - Proxy: a TCP relay whose connections can be cut, to fail one client's
//     link while the broker and other clients stay up.
//   - Recorder: every message on a filter, thread-safe, with WaitFor.
//   - PKI: a throw-away CA, server certificate (127.0.0.1, localhost) and
//     client certificate as PEM files.
//
// Every wait inside is bounded (a few seconds), so a broken peer fails a
// test instead of hanging it.
package mqtttest
