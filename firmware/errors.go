package firmware

import (
	"errors"
	"strings"
)

// Refusals. Every error Verify, Install or Download returns for a bundle it
// will not run wraps exactly one of these, so callers can classify with
// errors.Is and report the message as the reason. None of them changes
// the running version.
var (
	ErrNoTrustedKeys = errors.New("no trusted keys configured")
	ErrMalformed     = errors.New("malformed bundle")
	ErrSignature     = errors.New("signature does not verify with any trusted key")
	ErrProduct       = errors.New("bundle is not for this product")
	ErrTarget        = errors.New("bundle is for another target")
	ErrTooLarge      = errors.New("payload over the size limit")
	ErrTruncated     = errors.New("payload truncated")
	ErrTrailing      = errors.New("data after the payload")
	ErrHash          = errors.New("payload sha256 mismatch")
	ErrExpired       = errors.New("manifest expired")
	ErrNotNewer      = errors.New("version not newer than the running one")
	ErrMinVersion    = errors.New("running version below the bundle's min_version")
)

// Operational errors.
var (
	// ErrBusy: another install holds the lock, or a trial is in progress.
	ErrBusy = errors.New("firmware: busy")
	// ErrRolledBack: Commit came after the launcher restored the previous
	// slot; the running process is not the active version any more.
	ErrRolledBack = errors.New("firmware: trial already rolled back")
	// ErrNotLaunched: the process was not started by the launcher, so
	// there is no trial to commit.
	ErrNotLaunched = errors.New("firmware: not started by the launcher")
)

// RejectError is a refusal: the bundle was not installed.
type RejectError struct {
	Version string // from the manifest, when it was readable
	Err     error  // wraps one of the Err* refusals
}

func (e *RejectError) Error() string {
	reason := strings.TrimPrefix(e.Err.Error(), "firmware: ")
	if e.Version != "" {
		return "firmware: rejected " + e.Version + ": " + reason
	}
	return "firmware: rejected: " + reason
}

// Reason is the refusal without the prefix, for events and status.
func (e *RejectError) Reason() string { return strings.TrimPrefix(e.Err.Error(), "firmware: ") }

func (e *RejectError) Unwrap() error { return e.Err }
