// Package tests holds end-to-end tests that build and run the real canary
// binary against real peers on loopback: Mosquitto (skipped when it is not
// installed, a failure under CI=true) and an independent Modbus server.
package tests
