package buffer

import bolt "go.etcd.io/bbolt"

// Restart makes a Memory forget what is in flight, as reopening a Bolt
// does, so the simulation can use it as the model across reopens.
func (m *Memory) Restart() { m.restart() }

// SetDropAfterReadForTest sets how many stored bytes Begin reads before
// it drops the pages it mapped (dropAfterRead).
func (b *Bolt) SetDropAfterReadForTest(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropAfter = n
}

// CorruptValueForTest overwrites the first data record's value with bytes
// the codec rejects.
func CorruptValueForTest(path string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(laneBucket(LaneData)).Put(encodeKey(1), []byte{99})
	})
}
