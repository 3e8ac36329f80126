// Package sim is the demo: a simulated rack of gas detectors served over
// Modbus TCP by an independent implementation, an in-process MQTT broker
// standing in for the platform, and the real agent in between, all on
// loopback. It prints what the platform receives and checks, at the end,
// that every record the agent queued arrived.
package sim
