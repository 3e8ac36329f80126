package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"canary/tests/harness"
)

// The shipped unit is hardened and speaks the notify protocol the agent
// implements; a directive dropped by an edit fails here.
func TestSystemdUnitHardened(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(harness.ModuleRoot(t), "firmware", "systemd", "canary.service"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			set[k] = append(set[k], v)
		}
	}
	for k, want := range map[string]string{
		"Type": "notify", "NotifyAccess": "all", "User": "canary", "StateDirectory": "canary",
		"ProtectSystem": "strict", "NoNewPrivileges": "yes", "Restart": "always", "WatchdogSec": "120",
		"CapabilityBoundingSet": "", "ProtectHome": "yes", "PrivateTmp": "yes",
	} {
		if got := set[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %q", k, got, want)
		}
	}
	if exec := strings.Join(set["ExecStart"], ""); !strings.Contains(exec, " run -c /etc/canary/canary.yaml") {
		t.Errorf("ExecStart=%s does not run the agent", exec)
	}
}
