// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) without cgo: one datagram per state to the unix socket
// named by $NOTIFY_SOCKET. Without that variable (not run by systemd, or
// not Type=notify) every call is a no-op.
package sdnotify

import (
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state ("READY=1", "WATCHDOG=1", "STOPPING=1",
// "STATUS=…") and reports whether it was sent.
func Notify(state string) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	if addr[0] == '@' { // abstract namespace
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}

// WatchdogInterval is how often to send WATCHDOG=1: half of
// $WATCHDOG_USEC, or 0 when the watchdog is off or meant for another
// process ($WATCHDOG_PID).
func WatchdogInterval() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond / 2
}
