package buffer

import (
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Info is an offline view of an outbox file (see Inspect).
type Info struct {
	Path     string
	FileSize int64
	Lanes    [numLanes]BucketInfo // queued: not yet acknowledged
	Retained [numLanes]BucketInfo // acknowledged, kept for audit
	NextSeq  [numLanes]uint64
}

// BucketInfo describes the records of one lane in one state.
type BucketInfo struct {
	Records        int
	Bytes          int64 // stored (compressed) bytes
	Compressed     int   // records stored compressed
	Oldest, Newest time.Time
	FirstSeq       uint64
	LastSeq        uint64
}

// StoredRecord is a record read offline, with where it was found.
type StoredRecord struct {
	Record
	Acked bool // from retention: delivered and kept for audit
}

// openReadOnly opens path without writing to it. The agent holds an
// exclusive lock while it runs, so this fails with ErrLocked after
// LockTimeout then.
func openReadOnly(path string) (*bolt.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("buffer: %w", err)
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{Timeout: LockTimeout, ReadOnly: true})
	if err != nil {
		return nil, openError(path, err)
	}
	return db, nil
}

// Inspect reads an outbox file read-only and summarises it.
func Inspect(path string) (Info, error) {
	info := Info{Path: path}
	db, err := openReadOnly(path)
	if err != nil {
		return info, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		info.FileSize = tx.Size()
		meta := tx.Bucket(metaBucket)
		for _, l := range Lanes {
			if meta != nil {
				if v := meta.Get(nextKey(l)); v != nil {
					info.NextSeq[l], _ = decodeKey(v)
				}
			}
			var err error
			if info.Lanes[l], err = bucketInfo(tx.Bucket(laneBucket(l))); err != nil {
				return err
			}
			if info.Retained[l], err = bucketInfo(tx.Bucket(retainBucket(l))); err != nil {
				return err
			}
		}
		return nil
	})
	return info, err
}

func bucketInfo(bk *bolt.Bucket) (BucketInfo, error) {
	var bi BucketInfo
	if bk == nil {
		return bi, nil
	}
	err := bk.ForEach(func(k, v []byte) error {
		seq, err := decodeKey(k)
		if err != nil {
			return err
		}
		d, err := decodeValue(v)
		if err != nil {
			return err
		}
		if bi.Records == 0 {
			bi.Oldest, bi.FirstSeq = d.created, seq
		}
		bi.Records++
		bi.Bytes += int64(len(d.body))
		if d.flags&flagDeflate != 0 {
			bi.Compressed++
		}
		bi.Newest, bi.LastSeq = d.created, seq
		return nil
	})
	return bi, err
}

// Walk reads an outbox file read-only and calls fn for every record,
// retained (acked) and queued, lane by lane in seq order. Records created
// before from or at/after to are skipped (zero times do not bound).
func Walk(path string, from, to time.Time, fn func(StoredRecord) error) error {
	db, err := openReadOnly(path)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for _, l := range Lanes {
			for _, acked := range []bool{true, false} {
				name := laneBucket(l)
				if acked {
					name = retainBucket(l)
				}
				if err := walkBucket(tx.Bucket(name), l, acked, from, to, fn); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func walkBucket(bk *bolt.Bucket, l Lane, acked bool, from, to time.Time, fn func(StoredRecord) error) error {
	if bk == nil {
		return nil
	}
	return bk.ForEach(func(k, v []byte) error {
		seq, err := decodeKey(k)
		if err != nil {
			return err
		}
		d, err := decodeValue(v)
		if err != nil {
			return err
		}
		if (!from.IsZero() && d.created.Before(from)) || (!to.IsZero() && !d.created.Before(to)) {
			return nil
		}
		r, err := d.record(l, seq)
		if err != nil {
			return err
		}
		return fn(StoredRecord{Record: r, Acked: acked})
	})
}
