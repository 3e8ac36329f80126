package mqtttest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrNoMosquitto is returned by RunMosquitto when no mosquitto binary is
// found on PATH or in /usr/sbin.
var ErrNoMosquitto = errors.New("mqtttest: mosquitto not installed")

// Mosquitto is a real Mosquitto broker process on a loopback port, with
// anonymous access and its log in its directory.
type Mosquitto struct {
	bin, dir, conf, addr string
	opts                 MosquittoOptions

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartMosquitto runs Mosquitto for one test and stops it at cleanup. It
// skips the test when mosquitto is missing, unless CI=true.
func StartMosquitto(t testing.TB, opts ...MosquittoOptions) *Mosquitto {
	t.Helper()
	m, err := RunMosquitto(t.TempDir(), opts...)
	if errors.Is(err, ErrNoMosquitto) && os.Getenv("CI") != "true" {
		t.Skip("mosquitto not installed: apt-get install mosquitto")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// RunMosquitto writes a config into dir and starts Mosquitto; it returns
// once the port accepts connections. Close stops it.
func RunMosquitto(dir string, opts ...MosquittoOptions) (*Mosquitto, error) {
	bin, err := findMosquitto()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	m := &Mosquitto{bin: bin, dir: dir, addr: addr, conf: filepath.Join(dir, "mosquitto.conf")}
	if len(opts) > 0 {
		m.opts = opts[0]
	}
	if err := os.WriteFile(m.conf, []byte(m.config()), 0o600); err != nil {
		return nil, fmt.Errorf("mqtttest: %w", err)
	}
	if err := m.Start(); err != nil {
		return nil, err
	}
	return m, nil
}

// MosquittoOptions tune the broker.
type MosquittoOptions struct {
	// Persistence keeps sessions and queued messages across Stop (SIGTERM)
	// and Start, so a subscriber with a persistent session misses nothing
	// while the broker restarts. Kill loses what was not saved.
	Persistence bool
	// Quiet logs errors and warnings only: with the default (everything),
	// the log write per message slows a busy broker.
	Quiet bool
}

func findMosquitto() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", ErrNoMosquitto
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("mqtttest: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (m *Mosquitto) config() string {
	_, port, _ := net.SplitHostPort(m.addr)
	c := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\n", port)
	if m.opts.Persistence {
		c += fmt.Sprintf("persistence true\npersistence_location %s/\n", m.dir)
	} else {
		c += "persistence false\n"
	}
	c += "max_queued_messages 0\n" // a recorder must not lose a burst
	logType := "all"
	if m.opts.Quiet {
		logType = "error\nlog_type warning"
	}
	c += fmt.Sprintf("log_dest file %s\nlog_type %s\n", m.LogFile(), logType)
	if os.Geteuid() == 0 {
		c += "user root\n" // else it drops to 'mosquitto' and cannot write dir
	}
	return c
}

// Addr is "127.0.0.1:port"; it stays the same across Stop/Start.
func (m *Mosquitto) Addr() string { return m.addr }

// URL is "tcp://" + Addr().
func (m *Mosquitto) URL() string { return "tcp://" + m.addr }

// LogFile is the broker's log, useful in failure messages.
func (m *Mosquitto) LogFile() string { return filepath.Join(m.dir, "mosquitto.log") }

// Start runs the broker (again) with the same config and port and waits
// up to 5s until it accepts connections. It is a no-op while running.
func (m *Mosquitto) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return nil
	}
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if err = m.startOnce(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // the port may linger after a stop
	}
	return err
}

func (m *Mosquitto) startOnce() error {
	cmd := exec.Command(m.bin, "-c", m.conf)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mqtttest: start mosquitto: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		select {
		case <-exited:
			return fmt.Errorf("mqtttest: mosquitto exited early (log: %s)", m.LogFile())
		default:
		}
		if c, err := net.DialTimeout("tcp", m.addr, 200*time.Millisecond); err == nil {
			c.Close()
			m.cmd, m.exited = cmd, exited
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-exited
	return fmt.Errorf("mqtttest: mosquitto did not listen on %s (log: %s)", m.addr, m.LogFile())
}

// Stop sends SIGTERM and waits (5s at most, then SIGKILL).
func (m *Mosquitto) Stop() error { return m.signal(syscall.SIGTERM) }

// Kill sends SIGKILL and waits: a crash, no clean disconnects.
func (m *Mosquitto) Kill() error { return m.signal(syscall.SIGKILL) }

// Close stops the broker; it is safe to call more than once.
func (m *Mosquitto) Close() error { return m.Stop() }

func (m *Mosquitto) signal(sig syscall.Signal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return nil
	}
	defer func() { m.cmd = nil }()
	if err := m.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("mqtttest: signal mosquitto: %w", err)
	}
	select {
	case <-m.exited:
		return nil
	case <-time.After(5 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
		return errors.New("mqtttest: mosquitto ignored SIGTERM for 5s; killed")
	}
}
