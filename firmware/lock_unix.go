//go:build unix

package firmware

import (
	"fmt"
	"os"
	"syscall"
)

// lockPath takes an exclusive flock on path; wait=false fails with
// ErrBusy instead of waiting. The kernel drops the lock when the process
// dies, so a SIGKILL never leaves it held.
func lockPath(path string, wait bool) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("firmware: lock: %w", err)
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EWOULDBLOCK {
		f.Close()
		return nil, ErrBusy
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("firmware: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
