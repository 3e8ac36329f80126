package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// nonceStore remembers the nonces of accepted commands until they expire.
// It is bounded in size (max) and in time (a nonce is dropped once its
// command has expired: it could not pass the expiry check any more). With
// a file, it is written (temp, fsync, rename, fsync dir) before the
// command runs, so a restart does not reopen a replay window.
type nonceStore struct {
	path string
	max  int

	mu   sync.Mutex
	seen map[string]int64 // nonce → expires_at, Unix ms
}

func openNonces(path string, max int, now time.Time) (*nonceStore, error) {
	s := &nonceStore{path: path, max: max, seen: map[string]int64{}}
	if path == "" {
		return s, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &s.seen)
	}
	if err != nil {
		s.seen = map[string]int64{}
		return s, fmt.Errorf("command: nonces %s: %w", path, err)
	}
	s.prune(now)
	return s, nil
}

func (s *nonceStore) prune(now time.Time) {
	for n, exp := range s.seen {
		if exp <= now.UnixMilli() {
			delete(s.seen, n)
		}
	}
}

// use records nonce, or refuses it as replayed. The record is durable
// before use returns nil.
func (s *nonceStore) use(nonce string, expires, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[nonce]; ok {
		return refuse(ReasonReplayed, "nonce %q was already used", nonce)
	}
	if len(s.seen) >= s.max {
		s.prune(now)
		if len(s.seen) >= s.max {
			return refuse(ReasonBusy, "%d unexpired commands remembered; try again when some expire", s.max)
		}
	}
	s.seen[nonce] = expires.UnixMilli()
	if err := s.save(); err != nil {
		delete(s.seen, nonce)
		return refuse(ReasonFailed, "nonce not saved, command not run: %v", err)
	}
	return nil
}

func (s *nonceStore) save() error {
	if s.path == "" {
		return nil
	}
	b, err := json.Marshal(s.seen)
	if err != nil {
		return err
	}
	return WriteFileAtomic(s.path, b, 0o600)
}

// WriteFileAtomic replaces path with data: a temp file in the same
// folder, fsync, rename, fsync of the folder. After a power cut the file
// is either the old or the new one, whole.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename: a no-op
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
