// Package config is Canary's typed, versioned, strict configuration.
//
// A file is YAML with `version: 1`. Unknown keys, wrong types, missing
// required fields and impossible values are errors that name the file, the
// line and the field path (`FILE:LINE: devices[0].points[2].type: ...`);
// Load reports all of them, not just the first. Defaults live in one place,
// Default(). Validation makes no network calls. Secrets are never in the
// file: they come from `*_file` paths or the environment.
//
// # Reading a file
//
// Parse(file, data) decodes, applies defaults, validates and resolves
// derived values; it reads no other file. Load(path) reads the file, calls
// Parse and then loads secrets. The error of both, except when the config
// file itself cannot be read, is Errors: every problem, in line order, each
// an *Error formatted as FILE:LINE: path: message. This is what
// `canary check` prints.
//
// The decoder walks the YAML node tree itself rather than using
// yaml.Unmarshal, so that after one bad value it keeps checking the rest of
// the file. It rejects: unknown keys (suggesting a known key within edit
// distance 2), duplicate keys, merge keys (<<), wrong scalar types, a
// second YAML document, an empty file, and any key named like a secret
// (password, secret, token). Aliases are followed, with a budget of
// 100,000 values so a crafted file cannot exhaust memory.
//
// `version` is checked first: missing is an error (checking goes on);
// any value other than 1 is the only error reported, since a file for
// another version may have another shape.
//
// # Defaults
//
// Default() holds every agent-wide default. ApplyDefaults, next to it,
// fills per-device and per-point defaults that depend on the driver and
// table (modbus: transport tcp, unit_id 1, interval and timeout 1s, max_gap
// 10, max_interval 60s, rtu serial 9600 8N1; points: kind analog, table
// holding, type uint16 or bool for coil/discrete, order ABCD, scale 1). A
// field counts as unset when the file does not write it, so `unit_id: 0` in
// a file is kept; in a config built in code, zero means unset. After
// validation, client_id defaults to "{site.id}-{site.gateway}" and
// buffer.path to "{state_dir}/outbox.db".
//
// # Scalars
//
// Duration reads Go durations and days ("500ms", "1m30s", "7d"; not
// negative, and a bare number is an error because its unit is a guess).
// Size reads "256MiB", "1GiB", "64KiB" (1024-based), "10MB" (1000-based)
// or plain bytes. Rate reads "500/s", "30/m", "2/h" or a bare number per
// second. Each prints back in the same notation (Redacted relies on that:
// its output parses to the same config).
//
// # Secrets
//
// The MQTT password comes from $CANARY_MQTT_PASSWORD or, when that is
// unset or empty, from platform.mqtt.password_file (one trailing newline
// trimmed). The environment wins, following the twelve-factor convention,
// and then the file is not read at all, so a container can override a
// path that does not exist inside it. A password_file that is missing,
// unreadable or empty is an error at its line. Parse never reads it, which
// is why the shipped examples (referring to /etc/canary/...) parse on any
// machine. Secret prints as "[redacted]" and is not a YAML field, so
// Redacted never contains it.
//
// # Profiles and point tables
//
// Parse expands device profiles (profiles:, profile:, overrides:; see
// profile.go) and reads the CSV point tables listed in points_csv
// (relative to the config file; csv.go) before defaults and validation,
// so their points are checked like any other. Errors in them name the
// profile line and the device, or FILE:LINE:COLUMN of the cell. Hash
// covers the tables too. The effective config lists the points inline.
//
// # Warnings
//
// tls.insecure_skip_verify, allow_plaintext and OPC UA security mode None
// are accepted; Warnings lists them so they can be shown in `canary
// check` and in status.
package config
