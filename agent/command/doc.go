// Package command verifies and dispatches signed commands from the
// platform (topic P/cmd, replies on P/cmd/reply). See docs/commands.md.
//
// A command is the JSON object
//
//	{"id":"…","target":"site/gateway","cmd":"ping","args":{…},
//	 "issued_at":<Unix ms>,"expires_at":<Unix ms>,"nonce":"…"}
//
// signed with Ed25519, and travels in an envelope
//
//	{"payload":"<base64 of the exact command bytes>","sig":"<base64>","key":"<key id>"}
//
// The signature covers Domain followed by the payload bytes, so a
// signature made for another purpose (a firmware bundle) can never pass as
// a command. The payload is verified as bytes before it is parsed: what
// is run is exactly what was signed.
//
// Guarantees: every input, however malformed, gets a Reply with a Reason
// (never a panic); a command runs at most once per gateway (the nonce is
// remembered, on disk, until the command expires); a command for another
// gateway (target) is refused; a command is valid only between issued_at
// (less Skew) and expires_at, and expires_at may be at most MaxTTL after
// issued_at, which bounds how long nonces are kept. When the nonce store
// is full of unexpired nonces new commands are refused (reason busy)
// rather than forgetting one that could then be replayed.
package command
