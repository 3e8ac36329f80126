package firmware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Update is one install asked for remotely: the agent's signed
// firmware.update command. It fails closed: without trusted keys nothing
// is fetched or installed.
type Update struct {
	Dir      string // firmware directory (the launcher's)
	KeysFile string // trusted keys; missing, unreadable or empty → refused
	MaxBytes int64  // payload limit; 0 → DefaultMaxPayload
	Running  string // version of the running binary: a bundle must be newer

	URL  string // an https:// bundle, downloaded (resumed) into Dir/incoming; or
	Path string // a bundle file on this machine

	Client   *http.Client            // for URL; nil → http.DefaultClient
	Progress func(done, total int64) // download progress; total -1 when unknown
	Notify   Notify                  // Downloading at start and end; installs and refusals too
}

// Run verifies the bundle and installs it into the inactive slot, in
// trial, as Installer.Install does; the new version runs at the next
// start through the launcher. Every refusal is a *RejectError, recorded
// as a Rejected event in the state (so the agent publishes it) and
// leaving the active version as it was. Other errors (network, disk,
// ctx) are not refusals: a download cut short is kept and resumed by the
// next Run for the same URL.
func (u Update) Run(ctx context.Context) (*Manifest, error) {
	in := &Installer{Dir: u.Dir, BaseVersion: u.Running, Notify: u.Notify,
		Policy: Policy{Current: u.Running, MaxPayload: u.MaxBytes}}
	if (u.URL == "") == (u.Path == "") {
		return nil, errors.New("firmware: update: give a URL or a path, not both")
	}
	if err := (store{u.Dir}).init(); err != nil {
		return nil, err
	}
	keys, err := LoadTrustedKeys(u.KeysFile)
	if err != nil {
		if !errors.Is(err, ErrNoTrustedKeys) {
			err = fmt.Errorf("%w (%v)", ErrNoTrustedKeys, err)
		}
		return nil, u.refuse(in, &RejectError{Err: err})
	}
	in.Policy.Keys = keys
	if u.URL == "" {
		return in.InstallFile(ctx, u.Path)
	}
	part, err := u.download(ctx, in.Policy.maxPayload()+MaxManifest+4<<10)
	if errorsIsAny(err, ErrTooLarge, ErrTruncated) {
		os.Remove(part) // never resume a refused download
		return nil, u.refuse(in, &RejectError{Err: err})
	}
	if err != nil {
		return nil, err
	}
	defer os.Remove(part)
	return in.InstallFile(ctx, part)
}

func (u Update) refuse(in *Installer, rej *RejectError) error {
	in.reject(store{u.Dir}, rej)
	return rej
}

// download fetches u.URL into incoming/<hash of the URL>.part, so a
// partial file is resumed only by a request for the same URL; parts of
// other URLs are removed first (flash is small).
func (u Update) download(ctx context.Context, limit int64) (string, error) {
	sum := sha256.Sum256([]byte(u.URL))
	part := store{u.Dir}.path("incoming", hex.EncodeToString(sum[:8])+".part")
	old, _ := filepath.Glob(store{u.Dir}.path("incoming", "*.part"))
	for _, p := range old {
		if p != part {
			os.Remove(p)
		}
	}
	var have int64
	if fi, err := os.Stat(part); err == nil {
		have = fi.Size()
	}
	u.Notify.send(Event{Kind: Downloading, Done: have, Total: -1})
	d := Downloader{Client: u.Client, MaxBytes: limit, Progress: u.Progress}
	if err := d.Fetch(ctx, u.URL, part); err != nil {
		return part, redactURL(err, u.URL)
	}
	if fi, err := os.Stat(part); err == nil {
		u.Notify.send(Event{Kind: Downloading, Done: fi.Size(), Total: fi.Size()})
	}
	return part, nil
}

// redactURL keeps a URL's query (a pre-signed URL's token) out of error
// messages, which end up in logs, replies and events.
func redactURL(err error, raw string) error {
	p, perr := url.Parse(raw)
	if perr != nil || p.RawQuery == "" {
		return err
	}
	short := *p
	short.RawQuery, short.Fragment = "", ""
	return &redacted{err: err, from: p.Redacted(), to: short.Redacted() + "?…"}
}

type redacted struct {
	err      error
	from, to string
}

func (r *redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.from, r.to) }
func (r *redacted) Unwrap() error { return r.err }

// PendingEvents lists the events recorded in dir and not yet forgotten,
// oldest first. Unlike TakeEvents it keeps them: a caller that publishes
// them calls ForgetEvents once they are safe elsewhere, so a crash in
// between repeats events rather than losing them.
func PendingEvents(dir string) ([]Event, error) {
	st, err := store{dir}.read()
	if err != nil {
		return nil, err
	}
	return st.Events, nil
}

// ForgetEvents drops from dir's state the events equal to evs (as
// PendingEvents returned them); events recorded meanwhile stay.
func ForgetEvents(dir string, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	return store{dir}.update(func(st *State) (bool, error) {
		kept := st.Events[:0:0]
		for _, e := range st.Events {
			if !containsEvent(evs, e) {
				kept = append(kept, e)
			}
		}
		changed := len(kept) != len(st.Events)
		st.Events = kept
		return changed, nil
	})
}

func containsEvent(evs []Event, e Event) bool {
	for _, x := range evs {
		if x.Time.Equal(e.Time) && x.Kind == e.Kind && x.Version == e.Version && x.From == e.From &&
			x.Reason == e.Reason && x.Slot == e.Slot && x.Boots == e.Boots && x.Done == e.Done && x.Total == e.Total {
			return true
		}
	}
	return false
}
