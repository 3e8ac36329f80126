package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	gb "github.com/goburrow/modbus"

	"canary/config"
)

// ProbeSummary is the usage line of `canary probe modbus`.
const ProbeSummary = "read registers from a Modbus device and print every decoding side by side, or --scan-units; read-only"

const probeUsage = `usage: canary probe modbus (--tcp HOST:PORT | --rtu DEVICE [serial options] | --rtu-over-tcp HOST:PORT) [options]

  --unit N            unit id (default 1)
  --table T           holding (default), input, coil, discrete
  --address A         0-based protocol address (default 0)
  --count C           registers or bits to read, 1..125 (bits 1..2000; default 2)
  --timeout D         reply timeout (default 1s)
  --scan-units LO-HI  instead of reading, list which unit ids in LO..HI answer
                      (one register or bit at --address each; --scan-timeout per unit,
                      default 200ms; an exception reply counts as an answer)

serial options (--rtu): --baud N (9600) --parity N|E|O (N) --data-bits 7|8 (8) --stop-bits 1|2 (1)

Only read function codes (01-04) are ever sent. Exit: 0 ok, 1 no answer, 2 usage.
`

type probeArgs struct {
	dev            config.Device
	unit           int
	table          table
	addr, count    int
	timeout        time.Duration
	scanLo, scanHi int
	scanTimeout    time.Duration
}

// Probe runs `canary probe modbus` and returns the exit code.
func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a, err := parseProbe(args)
	if err != nil {
		fmt.Fprintf(stderr, "canary probe modbus: %v\n\n%s", err, probeUsage)
		return 2
	}
	if a.scanLo > 0 {
		return a.scan(ctx, stdout, stderr)
	}
	c := connFor(a.dev, a.timeout)()
	defer c.close()
	r := &request{unit: uint8(a.unit), table: a.table, addr: uint16(a.addr), qty: uint16(a.count), timeout: a.timeout}
	data, err := c.read(ctx, r)
	if err != nil {
		fmt.Fprintf(stderr, "canary probe modbus: %s unit %d: %s\n", a.dev.Address, a.unit, describeErr(err))
		return 1
	}
	a.print(stdout, data)
	return 0
}

func parseProbe(args []string) (probeArgs, error) {
	a := probeArgs{}
	var tcp, rtu, rot, tbl, scan string
	fs := flag.NewFlagSet("probe modbus", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&tcp, "tcp", "", "")
	fs.StringVar(&rtu, "rtu", "", "")
	fs.StringVar(&rot, "rtu-over-tcp", "", "")
	fs.IntVar(&a.dev.Serial.Baud, "baud", 9600, "")
	fs.StringVar(&a.dev.Serial.Parity, "parity", "N", "")
	fs.IntVar(&a.dev.Serial.DataBits, "data-bits", 8, "")
	fs.IntVar(&a.dev.Serial.StopBits, "stop-bits", 1, "")
	fs.IntVar(&a.unit, "unit", 1, "")
	fs.StringVar(&tbl, "table", "holding", "")
	fs.IntVar(&a.addr, "address", 0, "")
	fs.IntVar(&a.count, "count", 2, "")
	fs.DurationVar(&a.timeout, "timeout", time.Second, "")
	fs.StringVar(&scan, "scan-units", "", "")
	fs.DurationVar(&a.scanTimeout, "scan-timeout", 200*time.Millisecond, "")
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	if fs.NArg() > 0 {
		return a, fmt.Errorf("unexpected %q", fs.Arg(0))
	}
	n := 0
	for t, addr := range map[string]string{"tcp": tcp, "rtu": rtu, "rtu-over-tcp": rot} {
		if addr != "" {
			n++
			a.dev.Transport, a.dev.Address = t, addr
		}
	}
	if n != 1 {
		return a, errors.New("give exactly one of --tcp, --rtu, --rtu-over-tcp")
	}
	a.dev.ID = "probe"
	t, ok := tableNames[tbl]
	if !ok {
		return a, fmt.Errorf("--table %q: want holding, input, coil or discrete", tbl)
	}
	a.table = t
	if err := a.check(); err != nil {
		return a, err
	}
	if scan != "" {
		lo, hi, ok := parseRange(scan)
		if !ok {
			return a, fmt.Errorf("--scan-units %q: want LO-HI within 1-247 (or 0-255 for --tcp)", scan)
		}
		a.scanLo, a.scanHi = lo, hi
	}
	return a, nil
}

func (a *probeArgs) check() error {
	s := a.dev.Serial
	maxUnit := 247
	if a.dev.Transport == "tcp" {
		maxUnit = 255
	}
	switch {
	case a.dev.Transport == "rtu" && (s.Baud <= 0 || !strings.Contains("NEO", s.Parity) || len(s.Parity) != 1 ||
		s.DataBits < 7 || s.DataBits > 8 || s.StopBits < 1 || s.StopBits > 2):
		return errors.New("serial settings: --baud > 0, --parity N|E|O, --data-bits 7|8, --stop-bits 1|2")
	case a.dev.Transport != "rtu" && !strings.Contains(a.dev.Address, ":"):
		return fmt.Errorf("%q: want HOST:PORT", a.dev.Address)
	case a.unit < 0 || a.unit > maxUnit:
		return fmt.Errorf("--unit %d: want 0..%d", a.unit, maxUnit)
	case a.count < 1 || a.count > a.table.maxQty():
		return fmt.Errorf("--count %d: want 1..%d for table %s", a.count, a.table.maxQty(), a.table)
	case a.addr < 0 || a.addr+a.count > 1<<16:
		return fmt.Errorf("--address %d (+%d): out of 0..65535", a.addr, a.count)
	case a.timeout <= 0 || a.scanTimeout <= 0:
		return errors.New("--timeout and --scan-timeout must be positive")
	}
	return nil
}

func parseRange(s string) (lo, hi int, ok bool) {
	l, h, found := strings.Cut(s, "-")
	if !found {
		h = l
	}
	lo, err1 := strconv.Atoi(l)
	hi, err2 := strconv.Atoi(h)
	return lo, hi, err1 == nil && err2 == nil && lo >= 1 && lo <= hi && hi <= 255
}

// describeErr names a Modbus exception by its code's meaning.
func describeErr(err error) string {
	var me *gb.ModbusError
	if errors.As(err, &me) {
		names := map[byte]string{1: "illegal function", 2: "illegal data address", 3: "illegal data value",
			4: "server device failure", 5: "acknowledge", 6: "server device busy",
			10: "gateway path unavailable", 11: "gateway target device failed to respond"}
		return fmt.Sprintf("exception %02X (%s): the unit is alive", me.ExceptionCode, names[me.ExceptionCode])
	}
	return strings.TrimPrefix(err.Error(), "modbus: ")
}

// scan asks each unit id in the range for one item, one after another.
func (a probeArgs) scan(ctx context.Context, out, errOut io.Writer) int {
	c := connFor(a.dev, a.scanTimeout)()
	defer c.close()
	fmt.Fprintf(out, "scanning units %d-%d on %s %s (%s %d, %s per unit)\n",
		a.scanLo, a.scanHi, a.dev.Transport, a.dev.Address, a.table, a.addr, a.scanTimeout)
	var found []string
	for u := a.scanLo; u <= a.scanHi; u++ {
		if a.dev.Transport != "tcp" && u > 247 {
			break
		}
		if ctx.Err() != nil {
			break
		}
		r := &request{unit: uint8(u), table: a.table, addr: uint16(a.addr), qty: 1, timeout: a.scanTimeout}
		_, err := c.read(ctx, r)
		var me *gb.ModbusError
		switch {
		case err == nil:
			fmt.Fprintf(out, "unit %d: answers\n", u)
			found = append(found, strconv.Itoa(u))
		case errors.As(err, &me):
			fmt.Fprintf(out, "unit %d: %s\n", u, describeErr(err))
			found = append(found, strconv.Itoa(u))
		case errors.Is(err, ErrTimeout) || errors.Is(err, ErrBadReply):
			// silent: nobody there (or noise)
		default:
			fmt.Fprintf(errOut, "canary probe modbus: unit %d: %s\n", u, describeErr(err))
			if c.connect(ctx) != nil {
				return 1
			}
		}
	}
	if len(found) == 0 {
		fmt.Fprintln(out, "no unit answered")
		return 1
	}
	fmt.Fprintf(out, "answering units: %s\n", strings.Join(found, ", "))
	return 0
}

// print shows the raw items, every decoding, and the address notes.
func (a probeArgs) print(out io.Writer, data []byte) {
	fc := funcCode(a.table)
	fmt.Fprintf(out, "%s %s unit %d, FC %02d, %s address %d, count %d\n\n",
		a.dev.Transport, a.dev.Address, a.unit, fc, a.table, a.addr, a.count)
	if a.table.bits() {
		for i := range a.count {
			fmt.Fprintf(out, "%-6d %d\n", a.addr+i, data[i/8]>>(i%8)&1)
		}
	} else {
		printRegisters(out, a.addr, data)
	}
	fmt.Fprintln(out)
	a.addressNote(out)
}

func printRegisters(out io.Writer, base int, data []byte) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "address\thex\tuint16\tint16\tBADC uint16\tascii\t")
	n := len(data) / 2
	for i := range n {
		w := data[2*i : 2*i+2]
		u := binary.BigEndian.Uint16(w)
		fmt.Fprintf(tw, "%d\t0x%04X\t%d\t%d\t%d\t%s\t\n", base+i, u, u, int16(u), u>>8|u<<8, ascii(w))
	}
	tw.Flush()
	if n >= 2 {
		fmt.Fprintln(out, "\n32-bit values starting at each address (ABCD CDAB BADC DCBA):")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "address\ttype\tABCD\tCDAB\tBADC\tDCBA\t")
		for i := 0; i+2 <= n; i++ {
			b := data[2*i : 2*i+4]
			for _, k := range []kind{kInt32, kUint32, kFloat32} {
				fmt.Fprintf(tw, "%d\t%s\t", base+i, kindName(k))
				for _, o := range []order{orderABCD, orderCDAB, orderBADC, orderDCBA} {
					fmt.Fprintf(tw, "%s\t", formatAs(k, o, b))
				}
				fmt.Fprintln(tw)
			}
		}
		tw.Flush()
	}
	if n >= 4 {
		fmt.Fprintln(out, "\nfloat64 starting at each address:")
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "address\tABCD\tDCBA\t")
		for i := 0; i+4 <= n; i++ {
			b := data[2*i : 2*i+8]
			fmt.Fprintf(tw, "%d\t%s\t%s\t\n", base+i, formatAs(kFloat64, orderABCD, b), formatAs(kFloat64, orderDCBA, b))
		}
		tw.Flush()
	}
	fmt.Fprintf(out, "\nstring (%d registers, high byte first): %q\n", n, trimString(data))
}

func kindName(k kind) string {
	for name, v := range kindNames {
		if v == k {
			return name
		}
	}
	return "?"
}

func formatAs(k kind, o order, b []byte) string {
	p := point{kind: k, order: o}
	u := rawBits(&p, b)
	switch k {
	case kInt32:
		return strconv.FormatInt(int64(int32(u)), 10)
	case kUint32:
		return strconv.FormatUint(u, 10)
	case kFloat32:
		return strconv.FormatFloat(float64(math.Float32frombits(uint32(u))), 'g', 7, 32)
	}
	return strconv.FormatFloat(math.Float64frombits(u), 'g', 15, 64)
}

func ascii(w []byte) string {
	var s [2]byte
	for i, c := range w {
		s[i] = '.'
		if c >= 0x20 && c < 0x7f {
			s[i] = c
		}
	}
	return string(s[:])
}

func trimString(b []byte) string {
	s := strings.TrimRight(string(b), "\x00 ")
	return s
}

// addressNote tells how the protocol address maps onto the numbers in
// manuals: 1-based register numbers and Modicon 0xxxx/1xxxx/3xxxx/4xxxx.
func (a probeArgs) addressNote(out io.Writer) {
	prefix := map[table]int{tCoil: 0, tDiscrete: 1, tInput: 3, tHolding: 4}[a.table]
	first, last := a.addr, a.addr+a.count-1
	fmt.Fprintf(out, "addresses: protocol (0-based, as canary's config wants) %d..%d\n", first, last)
	fmt.Fprintf(out, "  = register %d..%d in 1-based numbering\n", first+1, last+1)
	if last+1 <= 9999 {
		fmt.Fprintf(out, "  = %d%04d..%d%04d in Modicon numbering\n", prefix, first+1, prefix, last+1)
	} else {
		fmt.Fprintf(out, "  = %d%05d..%d%05d in 6-digit Modicon numbering\n", prefix, first+1, prefix, last+1)
	}
	fmt.Fprintf(out, "A manual that lists register %d (or %d%04d) for this value means address: %d;\n", first+1, prefix, first+1, first)
	fmt.Fprintf(out, "if the values look shifted by one register, try --address %d or %d.\n", max(first-1, 0), first+1)
}
