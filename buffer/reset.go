package buffer

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// Reset says that OpenOrReset found the outbox file damaged and started a
// fresh one. The damaged file is kept at MovedTo for forensics.
type Reset struct {
	MovedTo string
	Cause   error
}

// OpenOrReset opens the outbox at path after checking it (Check: bbolt's
// page consistency check plus decoding every record). A file that fails
// to open or check with ErrCorrupt is renamed to
// path.corrupt-<UTC timestamp> and a fresh outbox is created in its place;
// the returned *Reset says so (nil when the file was fine). Any other
// error, ErrLocked in particular, is returned as is and nothing is moved.
//
// The check reads the whole file once: at boot, seconds for a full
// 256 MiB outbox on eMMC.
func OpenOrReset(path string, opts Options) (*Bolt, *Reset, error) {
	var cause error
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 { // an empty file is a new one
		cause = Check(path)
	}
	if cause == nil {
		b, err := OpenBolt(path, opts)
		if err == nil || !errors.Is(err, ErrCorrupt) {
			return b, nil, err
		}
		cause = err
	}
	if !errors.Is(cause, ErrCorrupt) {
		return nil, nil, cause
	}
	opts = opts.withDefaults()
	moved := fmt.Sprintf("%s.corrupt-%s", path, opts.Now().UTC().Format("20060102T150405.000Z"))
	if err := os.Rename(path, moved); err != nil {
		return nil, nil, fmt.Errorf("buffer: move damaged outbox aside: %w (damage: %w)", err, cause)
	}
	opts.SeqFloor = max(opts.SeqFloor, seqFloor(opts.Now()))
	b, err := OpenBolt(path, opts)
	if err != nil {
		return nil, nil, err
	}
	return b, &Reset{MovedTo: moved, Cause: cause}, nil
}

// seqFloor is where a fresh outbox's seqs start after a reset: the Unix
// time in milliseconds, above any seq the lost file can have held unless
// it averaged more than 1,000 records a second since 1970 (and below
// 2^53, so JSON readers keep it exact). With a clock still in 1970 (no
// RTC, not synced yet) it is small: the platform then tells the new
// range apart by boot and by the outbox_reset event.
func seqFloor(now time.Time) uint64 {
	return uint64(max(1, now.UnixMilli()))
}
