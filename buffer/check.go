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
		bk := tx.Bucket(laneBucket(l))
		if bk == nil {
			continue
		}
		err := bk.ForEach(func(k, v []byte) error {
			if _, err := decodeKey(k); err != nil {
				return err
			}
			_, _, _, err := decodeValue(v)
			return err
		})
		if err != nil {
			return fmt.Errorf("lane %s: %w", l, err)
		}
	}
	return nil
}
