package buffer_test

import (
	"fmt"
	"os"
	"path/filepath"

	"canary/buffer"
)

// The forwarder's loop in miniature: append, begin a batch, ack it after
// the broker's PUBACK (or Nack it if the link dropped).
func ExampleOpenBolt() {
	dir, _ := os.MkdirTemp("", "outbox")
	defer os.RemoveAll(dir)
	ob, err := buffer.OpenBolt(filepath.Join(dir, "outbox.db"), buffer.Options{MaxBytes: 1 << 20, Boot: "b1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ob.Close()
	ob.Append([]buffer.Record{
		{Lane: buffer.LaneData, Payload: []byte(`{"GT-101": 3.2}`)},
		{Lane: buffer.LaneEvent, Payload: []byte(`{"alarm": "GT-101 H"}`)},
	})
	batch, _ := ob.Begin(10)
	for _, r := range batch {
		fmt.Println(r.Lane, r.Seq, string(r.Payload))
	}
	ob.Ack(batch)
	fmt.Println("depth", ob.Stats().Lanes[buffer.LaneData].Depth)
	// Output:
	// event 1 {"alarm": "GT-101 H"}
	// data 1 {"GT-101": 3.2}
	// depth 0
}
