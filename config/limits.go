package config

import "strconv"

// wordBits is the pointer size of the binary that validates. Validation
// runs on the gateway itself (the agent at start, canary check there), so
// limits that depend on the address space are the checking binary's. A
// variable so tests can check the 32-bit limits on a 64-bit host.
var wordBits = strconv.IntSize

// maxBufferBytes is the largest buffer.max_bytes accepted. bbolt maps the
// whole outbox file, and the file is always larger than the budget (pages
// not quite full, freed pages waiting for reuse, a commit's copy-on-write
// pages). The outbox caps the file (bbolt MaxSize) at 4 × budget + 32MiB,
// and at 1GiB on 32-bit, where the map must fit a 2-3GiB address space
// next to the heap and, while compacting, the copy's map. 512MiB leaves the
// 32-bit file twice the budget, so the budget is what bounds it: eviction
// drops the oldest data with a gap event, instead of every append failing
// on the disk-error path when the file reaches the cap.
func maxBufferBytes(bits int) Size {
	if bits == 32 {
		return 512 << 20
	}
	return 1 << 30
}

// bufferLimitReason completes the out-of-range message of buffer.max_bytes.
func bufferLimitReason(bits int) string {
	if bits == 32 {
		return " on this 32-bit gateway: the outbox file is memory-mapped and always larger than " +
			"the budget, and on 32-bit it is capped at 1GiB"
	}
	return ": the outbox file is memory-mapped (a 32-bit gateway accepts at most 512MiB)"
}
