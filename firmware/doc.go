// Package firmware updates Canary in the field: signed bundles,
// verify-then-install into A/B slots, a launcher that starts the active
// slot, trial boot with a health gate and automatic rollback, and the
// release build (firmware/release). docs/firmware.md is the operator's
// view; this is the contract.
//
// # Bundles
//
// A bundle is magic, a length-prefixed JSON Manifest, an Ed25519
// signature over exactly those manifest bytes, then the payload (the
// canary binary); see bundle.go for the layout. Policy.Check refuses,
// with a *RejectError wrapping one sentinel of errors.go: no trusted keys
// (updates fail closed), a bad signature, another product or target, an
// oversized payload, an expired manifest, a version not newer than the
// running one unless the signed manifest allows a downgrade, or a running
// version below min_version. CopyPayload then checks length and SHA-256
// while streaming, never reading more than one byte past the signed
// length.
//
// # Slots and the pointer
//
// A firmware directory holds slots/a/canary, slots/b/canary and
// state.json, the pointer: which slot is active, whether it is on trial,
// its boot count, the slot that came before, and pending events. The
// state changes only by write-temp, fsync, rename, fsync-dir under an
// flock, so a crash leaves the old or the new state. The base binary
// (the one systemd starts, never written by an update) is the implicit
// third slot: there is always a complete version to run.
//
// Install writes only the inactive slot: it first drops that slot from
// the state, streams the payload to a temp file while hashing it, fsyncs,
// renames, records the slot, and only then switches the pointer to it in
// trial. A refusal or crash at any point leaves the active version as it
// was.
//
// # Launcher, trial and rollback
//
// Launcher.Run (`canary firmware boot -- run -c FILE`) reads the state.
// Outside a trial it execs the active binary in place. On trial it counts
// the boot, starts the new binary as a child and waits for Commit; if the
// window passes, or the boot count passes MaxBoots (crashes, power cuts),
// it restores the previous slot and starts that. The started process
// learns its slot from the environment (EnvDir, EnvSlot): the agent calls
// Commit once healthy, and publishes the Events.
//
// # The agent's side
//
// Process is what the agent uses (main.go wires it into agent.Options):
// TrialState, Commit, the pending events and Update. Update is a remote
// install (the signed firmware.update command): it loads the trusted
// keys at each call (missing or empty: refused, fail closed), downloads
// an https URL into incoming/ (resumed per URL, bounded), and installs as
// Installer does; every refusal is recorded as a Rejected event. The agent
// publishes events at least once: PendingEvents lists them, and
// ForgetEvents drops exactly those once they are in its outbox (TakeEvents
// takes and forgets in one step, for tools that print them).
//
// Lock order: install.lock (held for a whole install) before lock (held
// for each state change).
package firmware
