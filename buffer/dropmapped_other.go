//go:build !linux

package buffer

import bolt "go.etcd.io/bbolt"

// dropMapped does nothing where madvise is not wired up: the mapped pages
// stay until the kernel reclaims them.
func dropMapped(*bolt.DB) error { return nil }
