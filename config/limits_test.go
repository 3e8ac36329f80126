package config

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// setWordBits makes validation judge as a binary of that pointer size.
func setWordBits(t *testing.T, bits int) {
	t.Helper()
	old := wordBits
	wordBits = bits
	t.Cleanup(func() { wordBits = old })
}

// TestBufferMaxBytesByWordSize: a 32-bit gateway refuses a budget its
// capped outbox file could never hold (1GiB) and takes 512MiB; a 64-bit
// one takes 1GiB. The message says why and names the 32-bit limit.
func TestBufferMaxBytesByWordSize(t *testing.T) {
	cases := []struct {
		bits    int
		size    string
		wantErr string // "" valid
	}{
		{64, "1GiB", ""},
		{64, "1025MiB", "1025MiB is out of range 1MiB..1GiB: the outbox file is memory-mapped (a 32-bit gateway accepts at most 512MiB)"},
		{32, "512MiB", ""},
		{32, "513MiB", "513MiB is out of range 1MiB..512MiB on this 32-bit gateway"},
		{32, "1GiB", "1GiB is out of range 1MiB..512MiB on this 32-bit gateway: the outbox file is memory-mapped and always larger than the budget, and on 32-bit it is capped at 1GiB"},
		{32, "512KiB", "512KiB is out of range 1MiB..512MiB"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%dbit-%s", tc.bits, tc.size), func(t *testing.T) {
			setWordBits(t, tc.bits)
			src := strings.Replace(minimal, "devices:", "buffer: {max_bytes: "+tc.size+"}\ndevices:", 1)
			_, err := Parse("config.yaml", []byte(src))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("rejected:\n%v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("accepted")
			case tc.wantErr != "" && !strings.Contains(err.Error(), "buffer.max_bytes: "+tc.wantErr):
				t.Fatalf("error %q does not say %q", err, tc.wantErr)
			}
		})
	}
}

// TestBufferLimitOfThisBinary: without an override the limit is the
// checking binary's own (run under qemu-arm in CI, this is the 32-bit one).
func TestBufferLimitOfThisBinary(t *testing.T) {
	bits := int(unsafe.Sizeof(uintptr(0))) * 8
	if wordBits != bits {
		t.Fatalf("wordBits = %d, this binary's pointers have %d bits", wordBits, bits)
	}
	src := strings.Replace(minimal, "devices:", "buffer: {max_bytes: 1GiB}\ndevices:", 1)
	_, err := Parse("config.yaml", []byte(src))
	if rejected := err != nil; rejected != (bits == 32) {
		t.Fatalf("%d-bit binary: 1GiB budget rejected=%v, want %v (err %v)", bits, rejected, bits == 32, err)
	}
}
