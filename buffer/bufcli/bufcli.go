// Package bufcli is `canary buffer inspect` and `canary buffer export`:
// offline, read-only views of the outbox named by a config file. The
// agent must not be running on the same file: bbolt's lock tells, and the
// commands say so instead of waiting.
package bufcli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"canary/agent/wire"
	"canary/buffer"
	"canary/config"
)

// Exit codes, as the rest of the CLI.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const (
	InspectSummary = "offline view of the outbox: lanes, depth, oldest record, bytes, retention"
	ExportSummary  = "write stored samples and events as CSV or JSON lines (--from, --to, --point)"
)

// skew widens the record-time window around --from/--to: a sample's
// source timestamp can differ from when its record was made.
const skew = time.Hour

func outboxPath(fs *flag.FlagSet, args []string, stderr io.Writer) (*config.Config, int) {
	cfgPath := fs.String("c", "", "config file (default $CANARY_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return nil, exitUsage
	}
	if *cfgPath == "" {
		*cfgPath = lookupEnv("CANARY_CONFIG")
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "usage: canary buffer %s -c FILE\n", fs.Name())
		return nil, exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitFailure
	}
	return cfg, exitOK
}

// openError explains the one error an operator will meet most.
func openError(stderr io.Writer, path string, err error) int {
	if errors.Is(err, buffer.ErrLocked) {
		fmt.Fprintf(stderr, "canary buffer: %s is locked: the agent is running on it; stop it first (systemctl stop canary), or copy the file and inspect the copy\n", path)
	} else {
		fmt.Fprintln(stderr, "canary buffer:", err)
	}
	return exitFailure
}

// Inspect is `canary buffer inspect -c FILE`.
func Inspect(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, code := outboxPath(fs, args, stderr)
	if cfg == nil {
		return code
	}
	info, err := buffer.Inspect(cfg.Buffer.Path)
	if err != nil {
		return openError(stderr, cfg.Buffer.Path, err)
	}
	printInfo(stdout, info, cfg)
	return exitOK
}

func printInfo(w io.Writer, info buffer.Info, cfg *config.Config) {
	fmt.Fprintf(w, "outbox     %s\nfile size  %s (budget max_bytes %s)\n", info.Path, config.Size(info.FileSize), cfg.Buffer.MaxBytes)
	retain := "off (acknowledged records are deleted)"
	if cfg.Buffer.Retain > 0 {
		retain = cfg.Buffer.Retain.String()
	}
	fmt.Fprintf(w, "retention  %s\n\n", retain)
	fmt.Fprintf(w, "%-6s %-9s %9s %12s %10s  %-24s %-24s %s\n", "lane", "state", "records", "bytes", "compressed", "oldest", "newest", "seqs")
	var total int64
	for _, l := range buffer.Lanes {
		for _, row := range []struct {
			state string
			bi    buffer.BucketInfo
		}{{"queued", info.Lanes[l]}, {"retained", info.Retained[l]}} {
			total += row.bi.Bytes + int64(row.bi.Records)*buffer.RecordOverhead
			seqs := "-"
			if row.bi.Records > 0 {
				seqs = fmt.Sprintf("%d..%d", row.bi.FirstSeq, row.bi.LastSeq)
			}
			fmt.Fprintf(w, "%-6s %-9s %9d %12d %10d  %-24s %-24s %s\n", l, row.state, row.bi.Records, row.bi.Bytes,
				row.bi.Compressed, stamp(row.bi.Oldest), stamp(row.bi.Newest), seqs)
		}
		fmt.Fprintf(w, "%-6s next seq %d\n", l, info.NextSeq[l])
	}
	fmt.Fprintf(w, "\nbudget used %d of %d bytes (stored bytes + %d per record)\n", total, int64(cfg.Buffer.MaxBytes), buffer.RecordOverhead)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// Export is `canary buffer export -c FILE [--from T] [--to T] [--point ID] [--format csv|jsonl]`.
func Export(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fromS := fs.String("from", "", "first sample time, RFC 3339 or Unix ms (inclusive)")
	toS := fs.String("to", "", "end sample time, RFC 3339 or Unix ms (exclusive)")
	point := fs.String("point", "", "only this point")
	format := fs.String("format", "csv", "csv (samples) or jsonl (samples and events)")
	cfg, code := outboxPath(fs, args, stderr)
	if cfg == nil {
		return code
	}
	from, err1 := parseTime(*fromS)
	to, err2 := parseTime(*toS)
	if err := errors.Join(err1, err2); err != nil || (*format != "csv" && *format != "jsonl") {
		fmt.Fprintf(stderr, "canary buffer export: bad flags: %v (format %q)\n", err, *format)
		return exitUsage
	}
	e := &exporter{from: from, to: to, point: *point, jsonl: *format == "jsonl", out: stdout}
	if !e.jsonl {
		e.csv = csv.NewWriter(stdout)
		e.csv.Write([]string{"point", "ts", "value", "quality", "reason", "lane", "boot", "seq", "acked"})
	}
	wfrom, wto := from, to
	if !wfrom.IsZero() {
		wfrom = wfrom.Add(-skew)
	}
	if !wto.IsZero() {
		wto = wto.Add(skew)
	}
	err := buffer.Walk(cfg.Buffer.Path, wfrom, wto, e.record)
	if e.csv != nil {
		e.csv.Flush()
		err = errors.Join(err, e.csv.Error())
	}
	if err != nil {
		return openError(stderr, cfg.Buffer.Path, err)
	}
	fmt.Fprintf(stderr, "canary buffer export: %d samples, %d events\n", e.samples, e.events)
	return exitOK
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-11-29T08:00:00Z), a date or Unix ms", s)
}

type exporter struct {
	from, to        time.Time
	point           string
	jsonl           bool
	out             io.Writer
	csv             *csv.Writer
	samples, events int
}

// body is a stored record body: `"historical":…,"samples":[…]` or
// `"historical":…,"events":[…]`.
type body struct {
	Samples []sample          `json:"samples"`
	Events  []json.RawMessage `json:"events"`
}

type sample struct {
	Point   string          `json:"point"`
	TS      int64           `json:"ts"`
	Value   json.RawMessage `json:"value"`
	Quality string          `json:"quality"`
	Reason  string          `json:"reason,omitempty"`
}

type eventHead struct {
	TS    int64  `json:"ts"`
	Point string `json:"point"`
}

func (e *exporter) in(ts int64) bool {
	t := time.UnixMilli(ts)
	return (e.from.IsZero() || !t.Before(e.from)) && (e.to.IsZero() || t.Before(e.to))
}

func (e *exporter) record(r buffer.StoredRecord) error {
	var b body
	js, err := wire.AppendBody([]byte{'{'}, r.Payload) // compact data bodies become JSON
	if err == nil {
		err = json.Unmarshal(append(js, '}'), &b)
	}
	if err != nil {
		return fmt.Errorf("%s seq %d: not a Canary record body: %w", r.Lane, r.Seq, err)
	}
	for _, s := range b.Samples {
		if (e.point == "" || s.Point == e.point) && e.in(s.TS) {
			e.samples++
			if err := e.sample(r, s); err != nil {
				return err
			}
		}
	}
	for _, raw := range b.Events {
		var h eventHead
		json.Unmarshal(raw, &h)
		if (e.point == "" || h.Point == e.point) && e.in(h.TS) && e.jsonl {
			e.events++
			line, _ := json.Marshal(struct {
				Lane  string          `json:"lane"`
				Boot  string          `json:"boot"`
				Seq   uint64          `json:"seq"`
				Acked bool            `json:"acked"`
				Event json.RawMessage `json:"event"`
			}{r.Lane.String(), r.Boot, r.Seq, r.Acked, raw})
			if _, err := e.out.Write(append(line, '\n')); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *exporter) sample(r buffer.StoredRecord, s sample) error {
	if e.jsonl {
		line, _ := json.Marshal(struct {
			sample
			Lane  string `json:"lane"`
			Boot  string `json:"boot"`
			Seq   uint64 `json:"seq"`
			Acked bool   `json:"acked"`
		}{s, r.Lane.String(), r.Boot, r.Seq, r.Acked})
		_, err := e.out.Write(append(line, '\n'))
		return err
	}
	v := string(s.Value)
	if strings.HasPrefix(v, `"`) {
		json.Unmarshal(s.Value, &v)
	}
	return e.csv.Write([]string{s.Point, time.UnixMilli(s.TS).UTC().Format("2006-01-02T15:04:05.000Z"), v, s.Quality, s.Reason,
		r.Lane.String(), r.Boot, strconv.FormatUint(r.Seq, 10), strconv.FormatBool(r.Acked)})
}
