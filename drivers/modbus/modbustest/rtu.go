package modbustest

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// RTU is an independent Modbus RTU slave (its own framing and CRC, sharing
// no code with Canary's client) serving a Server's tables, knobs and
// counters over a byte stream: one end of a pty pair, or TCP connections
// (RTU over TCP, as a serial server or DTU forwards it). Dead units do not
// answer and do not hold the line; SetDelay delays every reply (a late
// reply, on the line after the client's timeout). Baud, when set, paces
// replies by the wire time of request and reply, as on a real line.
type RTU struct {
	*Server
	Baud int

	mu     sync.Mutex
	closer []io.Closer
	wg     sync.WaitGroup
}

// NewRTU returns an RTU slave over a fresh set of tables (it does not
// listen on TCP).
func NewRTU() *RTU {
	return &RTU{Server: &Server{units: map[uint8]*unit{}, exc: map[uint8]byte{}, dead: map[uint8]bool{}, wake: make(chan struct{}), srv: nil}}
}

// ServeFile serves requests read from f (a pty) until Close.
func (r *RTU) ServeFile(f *os.File) {
	r.track(f)
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.serve(f) }()
}

// ListenTCP serves RTU frames on every connection to a loopback port and
// returns its address.
func (r *RTU) ListenTCP() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	r.track(l)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.track(c)
			r.wg.Add(1)
			go func() { defer r.wg.Done(); r.serve(c) }()
		}
	}()
	return l.Addr().String(), nil
}

func (r *RTU) track(c io.Closer) {
	r.mu.Lock()
	r.closer = append(r.closer, c)
	r.mu.Unlock()
}

// Close stops serving and waits for the serving goroutines.
func (r *RTU) Close() {
	r.mu.Lock()
	cs := r.closer
	r.closer = nil
	r.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	r.wg.Wait()
}

// serve reads request frames one after another. A frame that fails its CRC
// or is not understood is dropped with everything then pending, as a slave
// on a noisy line would.
func (r *RTU) serve(rw io.ReadWriter) {
	var req [260]byte
	for {
		n, err := readRequest(rw, req[:])
		if err != nil {
			if errors.Is(err, errFrame) {
				continue
			}
			return
		}
		reply := r.answer(req[:n])
		if reply == nil {
			continue
		}
		if r.Baud > 0 {
			time.Sleep(time.Duration((n+len(reply))*10) * time.Second / time.Duration(r.Baud))
		}
		rw.Write(reply)
	}
}

var errFrame = errors.New("modbustest: bad frame")

// readRequest reads one request frame by its function code's layout.
func readRequest(rd io.Reader, b []byte) (int, error) {
	if _, err := io.ReadFull(rd, b[:2]); err != nil {
		return 0, err
	}
	n := 8
	switch b[1] {
	case 1, 2, 3, 4, 5, 6:
	case 15, 16:
		if _, err := io.ReadFull(rd, b[2:7]); err != nil {
			return 0, err
		}
		n = 9 + int(b[6])
	default:
		return 0, errFrame
	}
	start := 2
	if b[1] == 15 || b[1] == 16 {
		start = 7
	}
	if _, err := io.ReadFull(rd, b[start:n]); err != nil {
		return 0, err
	}
	if crc(b[:n-2]) != uint16(b[n-2])|uint16(b[n-1])<<8 {
		return 0, errFrame
	}
	return n, nil
}

// answer builds the reply frame to req, or nil for no reply.
func (r *RTU) answer(req []byte) []byte {
	u, fc := req[0], req[1]
	r.requests.Add(1)
	if fc > 4 {
		r.writes.Add(1)
		return frame(u, fc|0x80, 1)
	}
	r.mu2().Lock()
	dead, delay, code := r.dead[u], r.delay, r.exc[u]
	r.mu2().Unlock()
	if dead || u == 0 {
		return nil
	}
	if delay > 0 {
		time.Sleep(min(delay, deadHold))
	}
	if code != 0 {
		return frame(u, fc|0x80, code)
	}
	addr := uint16(req[2])<<8 | uint16(req[3])
	qty := uint16(req[4])<<8 | uint16(req[5])
	if qty == 0 || int(addr)+int(qty) > 1<<16 || (fc <= 2 && qty > 2000) || (fc > 2 && qty > 125) {
		return frame(u, fc|0x80, 2)
	}
	h := handler{r.Server}
	switch fc {
	case 1, 2:
		bits := h.bits(Table(fc-1), u, addr, qty)
		data := make([]byte, (len(bits)+7)/8)
		for i, on := range bits {
			if on {
				data[i/8] |= 1 << (i % 8)
			}
		}
		return frame(u, fc, append([]byte{byte(len(data))}, data...)...)
	}
	t := Holding
	if fc == 4 {
		t = Input
	}
	regs := h.regs(t, u, addr, qty)
	data := []byte{byte(2 * len(regs))}
	for _, v := range regs {
		data = append(data, byte(v>>8), byte(v))
	}
	return frame(u, fc, data...)
}

func (r *RTU) mu2() *sync.Mutex { return &r.Server.mu }

func frame(unit, fc byte, data ...byte) []byte {
	b := append([]byte{unit, fc}, data...)
	c := crc(b)
	return append(b, byte(c), byte(c>>8))
}

// crc is the Modbus CRC-16, written out here so the slave does not share
// the client's.
func crc(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c ^= uint16(x)
		for i := 0; i < 8; i++ {
			lsb := c & 1
			c >>= 1
			if lsb == 1 {
				c ^= 0xA001
			}
		}
	}
	return c
}
