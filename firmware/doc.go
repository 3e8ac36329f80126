// Package firmware will hold signed update bundles, A/B slots, trial boot
// and rollback, and the release build. Nothing is implemented yet: the
// agent cannot update itself in this version.
package firmware
