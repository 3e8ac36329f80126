package buffer

import (
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxSize bounds each transaction of the copy, so compacting a
// large file does not hold all of it dirty in memory at once.
const compactTxSize = 4 << 20

func compactPath(path string) string { return path + ".compact" }

// wantCompact is the automatic trigger, checked by the writer after each
// commit: the file is over the floor, more than twice the live data, and
// the last compaction is at least CompactInterval ago.
func (b *Bolt) wantCompact() bool {
	o := &b.opts
	if o.CompactMinSize < 0 || b.size <= o.CompactMinSize {
		return false
	}
	var live int64
	for l := range b.state {
		live += b.state[l].bytes + b.retained[l].bytes + int64(b.state[l].depth+b.retained[l].depth)*RecordOverhead
	}
	return b.size > 2*live && o.Now().Sub(b.lastCompact) >= o.CompactInterval
}

// compact runs on the writer goroutine, so nothing writes to the file
// while it is copied; readers go on with the old file until the swap.
// Crash safety: the copy is fsynced before the rename, the rename is
// atomic, and the directory is fsynced after it, so a crash leaves either
// the old file or the complete new one (plus, at worst, a stale copy that
// OpenBolt removes).
func (b *Bolt) compact() error {
	if b.broken != nil {
		return b.broken
	}
	b.lastCompact = b.opts.Now()
	tmp := compactPath(b.path)
	if err := b.copyTo(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("buffer: compact: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.db.Close(); err != nil {
		b.broken = fmt.Errorf("buffer: compact: close: %w", err)
		return b.broken
	}
	renameErr := os.Rename(tmp, b.path)
	if renameErr == nil {
		renameErr = syncDir(filepath.Dir(b.path))
	}
	db, err := bolt.Open(b.path, 0o600, b.opts.bolt()) // the new file, or the old one if the rename failed
	if err != nil {
		b.broken = fmt.Errorf("buffer: compact: reopen: %w", err)
		return b.broken
	}
	b.db = db
	if renameErr != nil {
		os.Remove(tmp)
		return fmt.Errorf("buffer: compact: %w", renameErr)
	}
	b.compactions++
	return db.View(func(tx *bolt.Tx) error { b.size = tx.Size(); return nil })
}

func (b *Bolt) copyTo(tmp string) error {
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, b.opts.bolt())
	if err != nil {
		return err
	}
	if err := bolt.Compact(dst, b.db, compactTxSize); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
