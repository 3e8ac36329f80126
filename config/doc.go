// Package config is Canary's typed, versioned, strict configuration.
//
// A file is YAML with `version: 1`. Unknown keys, wrong types, missing
// required fields and impossible values are errors that name the file, the
// line and the field path (`FILE:LINE: devices[0].points[2].type: ...`);
// Load reports all of them, not just the first. Defaults live in one place,
// Default(). Validation makes no network calls. Secrets are never in the
// file: they come from `*_file` paths or the environment.
package config
