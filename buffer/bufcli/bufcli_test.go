package bufcli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/drivers"
)

// fixture writes a config whose outbox holds two scans acked and retained
// and one scan and one event still queued.
func fixture(t *testing.T) (cfgPath, dbPath string) {
	dir := t.TempDir()
	dbPath = filepath.Join(dir, "outbox.db")
	cfgPath = filepath.Join(dir, "canary.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`version: 1
site: {id: s1, gateway: gw-01}
platform: {mqtt: {url: tcp://127.0.0.1:1883}}
state_dir: %s
buffer: {path: %s, max_bytes: 8MiB, retain: 30d}
`, dir, dbPath)), 0o600)
	now := time.UnixMilli(1_764_388_800_000)
	b, err := buffer.OpenBolt(dbPath, buffer.Options{MaxBytes: 8 << 20, Boot: "b1", Compress: true, Retain: 30 * 24 * time.Hour,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	scan := func(i int) buffer.Record {
		ts := now.UnixMilli() + int64(i)*1000
		return buffer.Record{Lane: buffer.LaneData, Created: time.UnixMilli(ts), Payload: fmt.Appendf(nil,
			`"historical":false,"samples":[{"point":"GT-101","ts":%d,"value":%d.5,"quality":"good"},{"point":"GT-102","ts":%d,"value":"txt","quality":"bad","reason":"comm"}]`, ts, i, ts)}
	}
	if _, err := b.Append([]buffer.Record{scan(0), scan(1)}); err != nil {
		t.Fatal(err)
	}
	out, _ := b.Begin(10)
	if err := b.Ack(out); err != nil {
		t.Fatal(err)
	}
	// The agent writes compact data bodies; records from an older agent
	// (above) are JSON. Export reads both.
	var enc wire.DataEncoder
	enc.Reset(false)
	ts2 := now.Add(2 * time.Second)
	enc.Add(&drivers.Sample{Point: "GT-101", TS: ts2, Value: drivers.Float(2.5)})
	enc.Add(&drivers.Sample{Point: "GT-102", TS: ts2, Value: drivers.String("txt"), Quality: drivers.Bad, Reason: drivers.ReasonComm})
	compact := buffer.Record{Lane: buffer.LaneData, Created: ts2, Payload: enc.Body()}
	b.Append([]buffer.Record{compact, {Lane: buffer.LaneEvent, Payload: fmt.Appendf(nil,
		`"historical":false,"events":[{"id":"e1","ts":%d,"type":"alarm","point":"GT-101","state":"active","level":"h"}]`, now.UnixMilli()+2000)}})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath
}

func run(t *testing.T, fn func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := fn(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func inspect(ctx context.Context, a []string, o, e *bytes.Buffer) int { return Inspect(ctx, a, o, e) }
func export(ctx context.Context, a []string, o, e *bytes.Buffer) int  { return Export(ctx, a, o, e) }

func TestInspect(t *testing.T) {
	cfg, _ := fixture(t)
	out, errs, code := run(t, inspect, "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"retention  30d", "data   queued            1", "data   retained          2",
		"event  queued            1", "2025-11-29T04:00:00Z", "data   next seq 4", "file size"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
}

func TestExportCSVAndJSONL(t *testing.T) {
	cfg, _ := fixture(t)
	out, errs, code := run(t, export, "-c", cfg, "--point", "GT-101", "--from", "2025-11-29T04:00:01Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := "point,ts,value,quality,reason,lane,boot,seq,acked\n" +
		"GT-101,2025-11-29T04:00:01.000Z,1.5,good,,data,b1,2,true\n" +
		"GT-101,2025-11-29T04:00:02.000Z,2.5,good,,data,b1,3,false\n"
	if out != want {
		t.Errorf("csv:\n%s\nwant:\n%s", out, want)
	}
	out, errs, code = run(t, export, "-c", cfg, "--format", "jsonl", "--to", "1764388801000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("jsonl: %d lines, want 2 samples of the first scan:\n%s", len(lines), out)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &s); err != nil || s["value"] != "txt" || s["reason"] != "comm" || s["acked"] != true {
		t.Errorf("jsonl line %s (%v)", lines[1], err)
	}
	out, _, _ = run(t, export, "-c", cfg, "--format", "jsonl", "--point", "GT-101", "--from", "2025-11-29T04:00:02Z")
	if !strings.Contains(out, `"event":{"id":"e1"`) {
		t.Errorf("jsonl lacks the event:\n%s", out)
	}
}

// While the agent holds the file, both commands say so and fail; they
// never wait for the lock or write to the file.
func TestLockedByAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the lock timeout")
	}
	cfg, db := fixture(t)
	b, err := buffer.OpenBolt(db, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, errs, code := run(t, inspect, "-c", cfg)
	if code != 1 || !strings.Contains(errs, "the agent is running on it") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestUsage(t *testing.T) {
	if _, _, code := run(t, inspect); code != 2 {
		t.Errorf("inspect without -c: exit %d, want 2", code)
	}
	cfg, _ := fixture(t)
	if _, _, code := run(t, export, "-c", cfg, "--format", "xml"); code != 2 {
		t.Errorf("export --format xml: exit %d, want 2", code)
	}
}
