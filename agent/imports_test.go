package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// The agent core must not depend on any protocol library: drivers are
// plugged in by the binary. This keeps the pipeline testable with fakes and
// makes "no write can be expressed" a property of the drivers alone.
func TestAgentImportsNoProtocolLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "canary/agent/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	banned := []string{"github.com/goburrow/", "github.com/gopcua/", "github.com/eclipse/paho",
		"github.com/mochi-mqtt/", "github.com/simonvetter/", "periph.io/", "canary/drivers/"}
	for _, dep := range strings.Fields(string(out)) {
		for _, b := range banned {
			if strings.HasPrefix(dep, b) {
				t.Errorf("canary/agent depends on %s", dep)
			}
		}
	}
}
