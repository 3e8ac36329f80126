// Package gpio reads dry contacts (door switches, relay outputs of a SIS,
// pushbuttons) from the host's GPIO pins with periph.io.
//
// One Source per configured device polls its pins every `interval`
// (default 100ms) and emits a Scan holding every point, so the agent's
// report-by-exception decides what is sent. Edges, where the host can
// deliver them, only wake the poll early: a missed or spurious edge never
// changes what is reported, the level read does. A new level counts once
// it has held for `debounce`; the first read after start counts at once.
//
// `invert` is applied here, once: a point's value is true when the pin's
// level is high, or low with invert. The agent never inverts again. Values
// are booleans, so any point kind works (interlock, bypass, fault, …).
//
// Pins are found by name in periph's registry (gpioreg) after host.Init:
// "GPIO17", or a board alias such as "P1_11". On a machine without GPIO,
// or with a pin that does not exist, Run emits a failed scan (the device
// goes offline with the error) and returns the error; the agent retries
// with back-off. Nothing here panics on a missing pin.
//
// Read-only by construction: pins are only ever configured as inputs.
package gpio
