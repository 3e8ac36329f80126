package tests

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"canary/agent"
	"canary/agent/wire"
	"canary/drivers/mqtt/mqtttest"
	"canary/firmware"
)

// releaseKey signs the test bundles; fwOther is a key nobody trusts.
var (
	releaseKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	fwOther    = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
)

// signBundle signs payload as version for target and returns the bundle.
func signBundle(t *testing.T, version string, target firmware.Target, payload []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(p, payload, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var b bytes.Buffer
	m := firmware.Manifest{Version: version, Target: target, Created: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour)}
	if _, err := firmware.Sign(&b, p, m, key); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fwRig is an applyRig whose agent (version 1.0.0, base binary) looks
// started by the launcher on fwDir and trusts releaseKey.
type fwRig struct {
	*applyRig
	fwDir, keys string
}

func newFWRig(t *testing.T, client *http.Client) *fwRig {
	r := &fwRig{applyRig: newApplyRig(t)}
	r.fwDir, r.keys = filepath.Join(r.dir, "firmware"), filepath.Join(r.dir, "firmware-keys")
	keyLine := firmware.FormatPublicKey(releaseKey.Public().(ed25519.PublicKey)) + "\n"
	if err := os.WriteFile(r.keys, []byte(keyLine), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := r.yaml("right.pass", "info") + "firmware: {keys_file: " + r.keys + ", max_bytes: 1MiB, timeout: 30s}\n"
	if err := os.WriteFile(r.file, []byte(yaml), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.fwDir, 0o755); err != nil { // the launcher made it
		t.Fatal(err)
	}
	t.Setenv(firmware.EnvDir, r.fwDir)
	t.Setenv(firmware.EnvSlot, "base")
	t.Setenv(firmware.EnvVersion, "1.0.0")
	r.edit = func(o *agent.Options) { o.Version, o.Firmware = "1.0.0", firmware.Process{Client: client} }
	return r
}

func (r *fwRig) firmwareEvents(state string) []wire.Event {
	return r.eventsOf(wire.TypeFirmware, state)
}

func (r *fwRig) state() firmware.State {
	var st firmware.State
	if b, err := os.ReadFile(filepath.Join(r.fwDir, "state.json")); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// waitExit waits for the Runner to return, as it does after an install
// so the process exits and the launcher starts the new version.
func (r *fwRig) waitExit() {
	r.t.Helper()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatal(err)
		}
		r.cancel()
		r.cancel = nil
	case <-time.After(20 * time.Second):
		r.t.Fatal("the agent did not stop after the install")
	}
}

// Every refusal replies `rejected` with the reason, publishes a rejected
// event with it, and leaves the running version alone: base binary
// active, no slot, no trial, the agent still running.
func TestFirmwareUpdateRefusals(t *testing.T) {
	r := newFWRig(t, nil)
	r.start()
	host := firmware.Host()
	payload := bytes.Repeat([]byte("canary 2.0.0\n"), 1000)
	good := signBundle(t, "2.0.0", host, payload, releaseKey)
	zeroSig := append([]byte(nil), good...)
	n := int(binary.BigEndian.Uint32(zeroSig[8:12])) // manifest length
	copy(zeroSig[12+n:12+n+64], make([]byte, 64))
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)-1] ^= 1
	cases := []struct {
		name, want string
		bundle     []byte
	}{
		{"forged", "signature does not verify", signBundle(t, "2.0.0", host, payload, fwOther)},
		{"unsigned", "signature does not verify", zeroSig},
		{"wrong target", "bundle is for another target", signBundle(t, "2.0.0", firmware.Target{OS: "windows", Arch: host.Arch, ARM: host.ARM}, payload, releaseKey)},
		{"not newer", "not newer than the running one", signBundle(t, "1.0.0", host, payload, releaseKey)},
		{"hash mismatch", "sha256 mismatch", flipped},
		{"oversized", "over the size limit", signBundle(t, "2.0.0", host, make([]byte, 1<<20+1), releaseKey)},
		{"truncated", "payload truncated", good[:len(good)-100]},
		{"not a bundle", "bad magic", []byte("#!/bin/sh\necho hi\n")},
	}
	seen := map[string]int{} // rejected events expected so far, by reason
	for _, c := range cases {
		seen[c.want]++
		reply := r.command("firmware.update", map[string]string{"path": writeTemp(t, "b.fwb", c.bundle)})
		if reply.OK || reply.Reason != agent.ReasonRejected || !strings.Contains(reply.Error, c.want) {
			t.Errorf("%s: reply %+v, want rejected: %s", c.name, reply, c.want)
		}
		r.wait(c.name+": rejected event", func([]mqtttest.Msg) bool {
			n := 0
			for _, e := range r.firmwareEvents("rejected") {
				if strings.Contains(e.Reason, c.want) {
					n++
				}
			}
			return n == seen[c.want]
		})
		if st := r.state(); st.Active != firmware.SlotBase || st.Trial || len(st.Slots) != 0 {
			t.Errorf("%s: state %+v", c.name, st)
		}
	}
	// Fail closed: without the keys file nothing installs, even a good bundle.
	os.Remove(r.keys)
	reply := r.command("firmware.update", map[string]string{"path": writeTemp(t, "b.fwb", good)})
	if reply.OK || reply.Reason != agent.ReasonRejected || !strings.Contains(reply.Error, "no trusted keys") {
		t.Errorf("no keys: reply %+v", reply)
	}
	if st := r.state(); st.Active != firmware.SlotBase || len(st.Slots) != 0 {
		t.Errorf("no keys: state %+v", st)
	}
	select {
	case err := <-r.done:
		t.Fatalf("the agent stopped after a refusal: %v", err)
	default:
	}
}

// By path: the reply names the inactive slot and the manifest, the
// platform gets `installed`, the slot holds exactly the payload, the
// pointer is on trial, and the agent stops so the launcher can start it.
func TestFirmwareUpdateByPathInstallsAndExits(t *testing.T) {
	r := newFWRig(t, nil)
	r.start()
	payload := bytes.Repeat([]byte("canary 2.0.0\n"), 5000)
	reply := r.command("firmware.update", map[string]string{"path": writeTemp(t, "b.fwb", signBundle(t, "2.0.0", firmware.Host(), payload, releaseKey))})
	res, _ := reply.Result.(map[string]any)
	if !reply.OK || res["state"] != "installed" || res["slot"] != "a" || res["version"] != "2.0.0" || res["from"] != "1.0.0" ||
		!strings.HasPrefix(res["restart"].(string), "exiting") {
		t.Fatalf("reply %+v", reply)
	}
	if m, _ := res["manifest"].(map[string]any); m["version"] != "2.0.0" {
		t.Errorf("manifest in the reply %+v", res["manifest"])
	}
	r.waitExit()
	r.wait("installed event", func([]mqtttest.Msg) bool { return len(r.firmwareEvents("installed")) == 1 })
	if e := r.firmwareEvents("installed")[0]; e.Version != "2.0.0" || e.From != "1.0.0" || e.Slot != "a" {
		t.Errorf("installed event %+v", e)
	}
	st := r.state()
	if st.Active != firmware.SlotA || !st.Trial || st.Previous != firmware.SlotBase || len(st.Events) != 0 {
		t.Errorf("state %+v: want slot a on trial, events published", st)
	}
	if got, _ := os.ReadFile(filepath.Join(r.fwDir, "slots", "a", "canary")); !bytes.Equal(got, payload) {
		t.Errorf("slot a holds %d bytes, want the %d of the payload", len(got), len(payload))
	}
}

// By HTTPS URL: downloaded, told as a start and an end event, installed.
func TestFirmwareUpdateByURL(t *testing.T) {
	b := signBundle(t, "2.1.0", firmware.Host(), bytes.Repeat([]byte("canary 2.1.0\n"), 20000), releaseKey)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.ServeContent(w, req, "canary.fwb", time.Time{}, bytes.NewReader(b))
	}))
	defer srv.Close()
	r := newFWRig(t, srv.Client())
	r.start()
	reply := r.command("firmware.update", map[string]string{"url": srv.URL + "/canary-2.1.0.fwb"})
	if res, _ := reply.Result.(map[string]any); !reply.OK || res["slot"] != "a" || res["version"] != "2.1.0" {
		t.Fatalf("reply %+v", reply)
	}
	r.waitExit()
	r.wait("installed event", func([]mqtttest.Msg) bool { return len(r.firmwareEvents("installed")) == 1 })
	dl := r.firmwareEvents("downloading")
	if len(dl) != 2 || dl[1].Done != int64(len(b)) || dl[1].Total != int64(len(b)) {
		t.Errorf("downloading events %+v, want a start and an end of %d bytes", dl, len(b))
	}
	if parts, _ := filepath.Glob(filepath.Join(r.fwDir, "incoming", "*")); len(parts) != 0 {
		t.Errorf("download left behind: %v", parts)
	}
}
