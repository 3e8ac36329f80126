package buffer

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// dict primes DEFLATE with what Canary's record bodies are made of, so
// even a record of one sample compresses: without it, a 70-byte body has
// nothing earlier to refer back to. Changing it makes stored records
// unreadable: add a flag for a new dictionary instead.
var dict = []byte(`"historical":true,"events":[{"id":"","ts":,"type":"alarm","point":"","state":"active","level":"hh","value":,"limit":},` +
	`"reason":"comm","error":"","type":"device","state":"offline","type":"gap","lane":"data","from_seq":,"to_seq":,"records":,` +
	`"quality":"bad","reason":"sensor_fault"},"quality":"uncertain"},"value":false,"quality":"good"},"value":true,"quality":"good"},` +
	`"historical":false,"samples":[{"point":"GT-10","ts":17643888,"value":0.0,"quality":"good"},{"point":"`)

// minDeflate is the smallest payload worth trying to compress.
const minDeflate = 32

var (
	deflaters = sync.Pool{New: func() any {
		w, _ := flate.NewWriterDict(nil, flate.DefaultCompression, dict)
		return w
	}}
	inflaters sync.Pool
)

// compress returns the stored form of p: deflated when that is smaller.
func compress(p []byte, on bool) stored {
	if !on || len(p) < minDeflate {
		return stored{body: p}
	}
	var buf bytes.Buffer
	buf.Grow(len(p)/3 + 16)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&buf)
	w.Write(p) // writes to a bytes.Buffer cannot fail
	w.Close()
	deflaters.Put(w)
	if buf.Len() >= len(p) {
		return stored{body: p}
	}
	return stored{body: buf.Bytes(), flags: flagDeflate}
}

// inflate reverses compress into fresh memory.
func inflate(body []byte) ([]byte, error) {
	var r io.ReadCloser
	if v := inflaters.Get(); v != nil {
		r = v.(io.ReadCloser)
		r.(flate.Resetter).Reset(bytes.NewReader(body), dict)
	} else {
		r = flate.NewReaderDict(bytes.NewReader(body), dict)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
	inflaters.Put(r)
	if err != nil || len(out) > maxInflated {
		return nil, fmt.Errorf("buffer: value: bad compressed payload (%v): %w", err, ErrCorrupt)
	}
	return out, nil
}

// maxInflated bounds what one damaged value can make the decoder allocate.
const maxInflated = 64 << 20
