//go:build linux

package buffer

import (
	"syscall"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// dropMapped tells the kernel that the process no longer needs the pages
// of db's file it has mapped (MADV_DONTNEED). bbolt reads records through
// a shared, read-only mapping of the file, so draining a backlog maps the
// whole file page by page and leaves it resident in the agent's RSS long
// after the records were acknowledged. Dropping the pages loses nothing:
// the data stays in the file and the page cache, and the next read faults
// the page in again.
//
// It runs inside a read transaction, which holds bbolt's mmap lock shared:
// the mapping cannot be remapped or unmapped meanwhile, so the address
// range is bbolt's file mapping and nothing else (MADV_DONTNEED on memory
// that had become anonymous would zero it).
func dropMapped(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		n := tx.Size() // the high-water mark: bbolt maps at least this far before it writes there
		if n <= 0 {
			return nil
		}
		info := db.Info()
		// The mapping is not Go memory: read the address as a pointer
		// without converting a uintptr (which vet rightly distrusts).
		base := *(*unsafe.Pointer)(unsafe.Pointer(&info.Data))
		return syscall.Madvise(unsafe.Slice((*byte)(base), int(n)), syscall.MADV_DONTNEED)
	})
}
