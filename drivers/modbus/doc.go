// Package modbus is Canary's Modbus driver: it polls configured points of
// Modbus TCP, RTU (serial, goburrow/serial) and RTU-over-TCP devices and
// emits one drivers.Scan per device poll.
//
// # Buses
//
// Driver.Open groups devices by transport and address into one Bus each:
// one goroutine owns the line (or socket) and serialises every request on
// it. Each device keeps its own schedule; a device with a comm failure is
// backed off alone (interval × 2^failures, capped by backoff_max, default
// 5m) and reported Bad/comm at its interval without bus traffic until the
// back-off ends and its next poll probes it. Busy/acknowledge exceptions
// do not back off. See docs/modbus.md.
//
// # RTU framing
//
// The RTU transporter is ours (goburrow supplies client and packager). It
// keeps 3.5 characters of silence before each request, frames replies by
// length, and drops every frame that does not answer the request in
// flight: wrong unit, function, byte count or CRC. After a timeout a TCP
// link is closed; a serial line is flushed for half a timeout. A timed-out
// unit is not asked again before its back-off ends, so a late reply can
// never carry the unit id of a later request.
//
// # Contract
//
// Driver.Open compiles each device's points (defaults applied: table
// holding, type uint16, order ABCD, scale 1, unit = the device's or 1,
// interval and timeout 1s, max gap 10) and plans its reads. It does no I/O.
// Each device gets one Source with one connection. Source.Run polls at
// once and then on every tick of the env's clock; a poll that overruns the
// interval does not queue ticks. Every Scan holds a sample for every
// configured point: a point that could not be read is Bad with no value,
// never missing, stale or zero. Scan.At is the poll's start; a sample's TS
// is when its reply arrived. Scan.Err is set (a *CommError) when the poll
// had a communication failure; exceptions 1-3 (illegal function, address,
// value) make their points Bad with ReasonConfig and are not comm failures.
// Other exceptions (busy, gateway path unavailable or target failed, device
// failure) are ReasonComm and set Err.
//
// # Planning
//
// Points are grouped by (unit, table), sorted by address and merged into
// reads of at most 125 registers or 2000 bits, bridging up to max_gap
// unused registers. A point is never split across reads.
//
// # Decoding
//
// Multi-register orders are two swaps of the big-endian value: CDAB
// reverses the order of the 16-bit words, BADC swaps the bytes in each
// word, DCBA does both. For one-register types and strings only the byte
// swap applies. Integers stay integers unless scale, offset or a raw/eng
// range is set. Non-finite floats are Bad/out_of_range; strings that are
// not UTF-8 are Bad/config (most likely a wrong address or type).
//
// # Read-only by construction
//
// The package holds goburrow's client only through the unexported reader
// interface, which has the four read functions (1-4). readonly_test.go
// fails the build's tests if a non-test file names any write method.
//
// # goburrow pitfalls handled
//
//   - No context: the transport is ours (goburrow supplies the client and
//     the MBAP packager). Each exchange has a deadline of the device
//     timeout or ctx's deadline, whichever is first, and ctx.Done() closes
//     the socket under a blocked read. goburrow's own TCP transporter
//     holds a mutex across the exchange, so its Close cannot interrupt it.
//   - Out of step after a timeout: after any failed exchange (timeout,
//     short or mismatched reply, wrong function code) the connection is
//     closed and the next read reconnects, so a late reply is never taken
//     for the answer to a later request.
//   - Reply length: the byte count is checked against the quantity asked
//     (ceil(qty/8) for bits, 2*qty for registers).
//   - Reconnects are lazy: a failed connect fails the rest of that poll,
//     and the next attempt is at the next tick. A unit that timed out is
//     not asked again in the same poll; other units are.
//
// # Ownership
//
// One goroutine (the one in Run) owns a Source's connection, its samples
// and its scratch state; nothing in the package is shared between
// Sources. The Samples slice of a Scan is reused by the next poll.
package modbus
