package firmware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostBundle is a bundle of version for this machine, valid now (Update
// checks against the wall clock and Host()).
func hostBundle(t *testing.T, version string) []byte {
	t.Helper()
	now := time.Now().UTC()
	m := Manifest{Version: version, Target: Host(), Created: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour)}
	return bundle(t, m, payloadFor(version), testKey)
}

func keysFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "firmware-keys")
	writeFile(t, p, "# release key\n"+FormatPublicKey(testPub)+"\n")
	return p
}

func kinds(evs []Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.Kind))
	}
	return strings.Join(s, " ")
}

func TestUpdateByPathInstallsInTrial(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "b.fwb")
	writeFile(t, path, string(hostBundle(t, "2.0.0")))
	var notified []Event
	u := Update{Dir: dir, KeysFile: keysFile(t), Running: "1.0.0", Path: path,
		Notify: func(e Event) { notified = append(notified, e) }}
	m, err := u.Run(context.Background())
	if err != nil || m.Version != "2.0.0" {
		t.Fatalf("Run = %+v, %v", m, err)
	}
	st, _ := store{dir}.load()
	if st.Active != SlotA || !st.Trial || st.Previous != SlotBase || st.Slots[SlotA].Version != "2.0.0" {
		t.Fatalf("state %+v", st)
	}
	evs, err := PendingEvents(dir)
	if err != nil || kinds(evs) != "installed" || evs[0].From != "1.0.0" || kinds(notified) != "installed" {
		t.Fatalf("pending %+v (%v), notified %+v", evs, err, notified)
	}
	// Not newer than itself: the running version is what Update says.
	u.Running = "2.0.0"
	writeFile(t, path, string(hostBundle(t, "2.0.0")))
	if err := commit(dir, SlotA); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Run(context.Background()); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("same version again: %v", err)
	}
}

// Fail closed: a missing, empty or unreadable keys file refuses, records
// the refusal and touches no slot.
func TestUpdateWithoutKeysRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "b.fwb")
	writeFile(t, path, string(hostBundle(t, "2.0.0")))
	empty := filepath.Join(t.TempDir(), "empty")
	writeFile(t, empty, "# no keys yet\n")
	bad := filepath.Join(t.TempDir(), "bad")
	writeFile(t, bad, "ed25519:not-base64\n")
	for _, keys := range []string{filepath.Join(dir, "missing"), empty, bad, ""} {
		_, err := Update{Dir: dir, KeysFile: keys, Running: "1.0.0", Path: path}.Run(context.Background())
		var rej *RejectError
		if !errors.As(err, &rej) || !errors.Is(err, ErrNoTrustedKeys) {
			t.Errorf("keys %q: err = %v, want a no-trusted-keys rejection", keys, err)
		}
	}
	st, _ := store{dir}.load()
	if st.Active != SlotBase || len(st.Slots) != 0 || kinds(st.Events) != "rejected rejected rejected rejected" {
		t.Fatalf("state after refusals %+v", st)
	}
	if _, err := os.Stat(store{dir}.binary(SlotA)); !os.IsNotExist(err) {
		t.Fatalf("slot a written: %v", err)
	}
}

// serve answers every request with body, or with only its first cut
// bytes and a dropped connection.
func serve(t *testing.T, body []byte, cut int) *httptest.Server {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut > 0 {
			w.Header().Set("Content-Length", "999999")
			w.Write(body[:cut])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
		w.Write(body)
	}))
	srv.Config.ErrorLog = nil
	t.Cleanup(srv.Close)
	return srv
}

func TestUpdateByURL(t *testing.T) {
	b := hostBundle(t, "2.0.0")
	srv := serve(t, b, 0)
	dir := t.TempDir()
	var got []Event
	var last int64
	u := Update{Dir: dir, KeysFile: keysFile(t), Running: "1.0.0", URL: srv.URL + "/canary.fwb",
		Client: srv.Client(), Progress: func(done, _ int64) { last = done },
		Notify: func(e Event) { got = append(got, e) }}
	if _, err := u.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if last != int64(len(b)) || kinds(got) != "downloading downloading installed" || got[1].Done != int64(len(b)) {
		t.Fatalf("progress %d of %d, events %+v", last, len(b), got)
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, "incoming", "*")); len(parts) != 0 {
		t.Fatalf("download left behind: %v", parts)
	}
}

// A download over the limit is a refusal (recorded, not resumed); one
// cut short is an error that keeps the part for the next try and does
// not spell out the URL's query.
func TestUpdateDownloadFailures(t *testing.T) {
	b := hostBundle(t, "2.0.0")
	dir := t.TempDir()
	big := serve(t, b, 0)
	u := Update{Dir: dir, KeysFile: keysFile(t), Running: "1.0.0", URL: big.URL + "/b?token=s3cret",
		Client: big.Client(), MaxBytes: 1000}
	_, err := u.Run(context.Background())
	var rej *RejectError
	if !errors.As(err, &rej) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, "incoming", "*.part")); len(parts) != 0 {
		t.Fatalf("refused download kept: %v", parts)
	}
	cut := serve(t, b, 5000)
	u.URL, u.Client, u.MaxBytes = cut.URL+"/b?token=s3cret", cut.Client(), 0
	_, err = u.Run(context.Background())
	if err == nil || errors.As(err, &rej) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("cut download: %v", err)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "incoming", "*.part"))
	if len(parts) != 1 {
		t.Fatalf("parts kept for resume: %v", parts)
	}
	if fi, _ := os.Stat(parts[0]); fi.Size() != 5000 {
		t.Fatalf("part holds %d bytes, want the 5000 sent", fi.Size())
	}
	cut.Close()
	if _, err = u.Run(context.Background()); err == nil || !strings.Contains(err.Error(), cut.URL+"/b?…") ||
		strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("unreachable server: %v", err)
	}
	if evs, _ := PendingEvents(dir); kinds(evs) != "rejected" {
		t.Fatalf("events %+v: a cut download is not a refusal", evs)
	}
}

// ForgetEvents drops exactly what was published; an event recorded
// meanwhile stays pending.
func TestForgetEventsKeepsNewerOnes(t *testing.T) {
	dir := t.TempDir()
	in := installer(dir)
	in.reject(store{dir}, &RejectError{Version: "2.0.0", Err: ErrSignature})
	first, _ := PendingEvents(dir)
	in.reject(store{dir}, &RejectError{Version: "3.0.0", Err: ErrTarget})
	if err := ForgetEvents(dir, first); err != nil {
		t.Fatal(err)
	}
	left, _ := PendingEvents(dir)
	if len(left) != 1 || left[0].Version != "3.0.0" {
		t.Fatalf("left %+v", left)
	}
}
