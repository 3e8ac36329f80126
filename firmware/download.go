package firmware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Downloader fetches a bundle over HTTPS into a local file, resuming a
// partial file with a Range request. What it fetches is untrusted until
// Install verifies it.
type Downloader struct {
	Client   *http.Client            // nil → http.DefaultClient (TLS verified)
	MaxBytes int64                   // 0 → DefaultMaxPayload + MaxManifest + 4 KiB
	Progress func(done, total int64) // total is -1 when unknown
}

// Fetch downloads rawURL to dst. If dst exists, its bytes are kept and
// only the rest is asked for; a server that ignores Range restarts it.
func (d Downloader) Fetch(ctx context.Context, rawURL, dst string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("firmware: download %q: want an https URL", rawURL)
	}
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("firmware: download: %w", err)
	}
	have, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		err = d.fetch(ctx, u.String(), f, have)
	}
	if err == nil {
		return syncClose(f)
	}
	f.Close()
	return err
}

func (d Downloader) fetch(ctx context.Context, u string, f *os.File, have int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("firmware: download: %w", err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return fmt.Errorf("firmware: download: %w", err)
	}
	defer resp.Body.Close()
	total, err := d.position(resp, f, &have)
	if err != nil || total == have {
		return err
	}
	if total > d.maxBytes() {
		return fmt.Errorf("firmware: download: %w: %d bytes, limit %d", ErrTooLarge, total, d.maxBytes())
	}
	return d.copy(f, resp.Body, have, total)
}

// position checks the response against the partial file and returns the
// expected total (-1 unknown), truncating the file when the server sends
// it whole.
func (d Downloader) position(resp *http.Response, f *os.File, have *int64) (int64, error) {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != *have {
			return 0, fmt.Errorf("firmware: download: bad Content-Range %q for offset %d", resp.Header.Get("Content-Range"), *have)
		}
		return total, nil
	case http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return 0, fmt.Errorf("firmware: download: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, fmt.Errorf("firmware: download: %w", err)
		}
		*have = 0
		return resp.ContentLength, nil
	case http.StatusRequestedRangeNotSatisfiable:
		if _, total, ok := contentRange(resp.Header.Get("Content-Range")); ok && total == *have {
			return total, nil // already complete
		}
	}
	return 0, fmt.Errorf("firmware: download: %s", resp.Status)
}

func (d Downloader) copy(f *os.File, body io.Reader, done, total int64) error {
	buf := make([]byte, 64<<10)
	first := true
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if done+int64(n) > d.maxBytes() {
				return fmt.Errorf("firmware: download: %w: over %d bytes", ErrTooLarge, d.maxBytes())
			}
			if _, werr := f.Write(buf[:n]); werr != nil {
				return fmt.Errorf("firmware: download: %w", werr)
			}
			done += int64(n)
			if d.Progress != nil {
				d.Progress(done, total)
			}
			if first {
				first = false
				hook(StepDownload)
			}
		}
		if errors.Is(err, io.EOF) {
			if total >= 0 && done != total {
				return fmt.Errorf("firmware: download: %w: %d of %d bytes", ErrTruncated, done, total)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("firmware: download: %w (%d bytes kept for resume)", err, done)
		}
	}
}

// contentRange parses "bytes START-END/TOTAL" or "bytes */TOTAL".
func contentRange(h string) (start, total int64, ok bool) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, tot, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, false
	}
	total, err := strconv.ParseInt(tot, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if rng == "*" {
		return -1, total, true
	}
	s, _, ok := strings.Cut(rng, "-")
	start, err = strconv.ParseInt(s, 10, 64)
	return start, total, ok && err == nil
}

func (d Downloader) client() *http.Client {
	if d.Client == nil {
		return http.DefaultClient
	}
	return d.Client
}

func (d Downloader) maxBytes() int64 {
	if d.MaxBytes <= 0 {
		return DefaultMaxPayload + MaxManifest + 4<<10
	}
	return d.MaxBytes
}
