package buffer

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check runs bbolt's consistency checker on a closed outbox file and
// decodes every record. It is for tests, crash recovery and offline
// inspection; the errors it finds wrap ErrCorrupt.
func Check(path string) (err error) {
	db, err := bolt.Open(path, 0o400, &bolt.Options{Timeout: LockTimeout, ReadOnly: true})
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("buffer: check %s: %v: %w", path, r, ErrCorrupt)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		errs = append(errs, checkRecords(tx))
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("buffer: check %s: %w: %w", path, ErrCorrupt, err)
		}
		return nil
	})
}

// checkRecords decodes every key and value of every lane.
func checkRecords(tx *bolt.Tx) error {
	for _, l := range Lanes {
		for _, name := range [][]byte{laneBucket(l), retainBucket(l)} {
			bk := tx.Bucket(name)
			if bk == nil {
				continue
			}
			if err := bk.ForEach(checkRecord); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
	}
	return nil
}

// checkRecord decodes one key and value, inflating a compressed payload.
func checkRecord(k, v []byte) error {
	if _, err := decodeKey(k); err != nil {
		return err
	}
	d, err := decodeValue(v)
	if err == nil && d.flags&flagDeflate != 0 {
		_, err = inflate(d.body)
	}
	return err
}
