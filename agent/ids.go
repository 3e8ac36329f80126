package agent

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"
)

// newBoot returns an id for this process start: the start time in base 36
// and 4 random bytes, so ids sort by start and never collide.
func newBoot(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatInt(now.UnixMilli(), 36) + "-" + hex.EncodeToString(b[:])
}

// idGen makes event ids: boot-N.
type idGen struct {
	boot string
	n    atomic.Uint64
}

func (g *idGen) next() string {
	return g.boot + "-" + strconv.FormatUint(g.n.Add(1), 10)
}
