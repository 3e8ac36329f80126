// Package modbus is Canary's Modbus driver: it polls configured points of
// Modbus TCP devices (RTU and RTU-over-TCP are planned; Open refuses them
// with ErrNotSupported) and emits one drivers.Scan per device poll.
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
