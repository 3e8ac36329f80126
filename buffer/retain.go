package buffer

import (
	"time"
)

// maxExpirePerCommit bounds how many retained records one commit deletes
// for age, so a retention change cannot make one transaction huge.
const maxExpirePerCommit = 1024

// dropRetained makes room for need bytes from retained records before
// makeRoom touches anything unsent: oldest first across lanes, down to
// the same slack as eviction. Retained records were delivered, so no gap
// record is written.
func (t *txn) dropRetained(need int64) error {
	o := t.opts
	if o.MaxBytes <= 0 || t.used()+need <= o.MaxBytes {
		return nil
	}
	limit := o.MaxBytes - o.MaxBytes/EvictSlack
	for t.used()+need > limit {
		l, ok, err := t.oldestRetained()
		if err != nil || !ok {
			return err
		}
		if err := t.dropFirst(l); err != nil {
			return err
		}
	}
	return nil
}

// oldestRetained is the lane whose first retained record is oldest.
func (t *txn) oldestRetained() (Lane, bool, error) {
	var best Lane
	var at time.Time
	found := false
	for _, l := range Lanes {
		c, err := firstCreated(t.keep[l])
		if err != nil {
			return 0, false, err
		}
		if t.rt[l].depth > 0 && (!found || c.Before(at)) {
			best, at, found = l, c, true
		}
	}
	return best, found, nil
}

// dropFirst deletes the first (oldest) retained record of lane l.
func (t *txn) dropFirst(l Lane) error {
	k, v := t.keep[l].Cursor().First()
	if k == nil {
		return nil
	}
	n, err := storedLen(v)
	if err != nil {
		return err
	}
	t.rt[l].depth--
	t.rt[l].bytes -= n
	return t.keep[l].Delete(append([]byte(nil), k...))
}

// expire deletes retained records older than Options.Retain, a bounded
// number per commit; later commits continue.
func (t *txn) expire(l Lane) error {
	if t.opts.Retain <= 0 || t.rt[l].depth == 0 {
		return nil
	}
	cutoff := t.opts.Now().Add(-t.opts.Retain)
	for range maxExpirePerCommit {
		c, err := firstCreated(t.keep[l])
		if err != nil || c.IsZero() || !c.Before(cutoff) {
			return err
		}
		if err := t.dropFirst(l); err != nil {
			return err
		}
	}
	return nil
}
