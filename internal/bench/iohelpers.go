package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/sluicedata/sluice/client"
)

// IOBuf is the size of the Write calls of the writers and of the buffers of the
// reference copies.
const IOBuf = 4 << 20

// Payload returns n pseudo-random bytes (incompressible, the same for the same seed),
// made fast enough for 1 GiB.
func Payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	FillPayload(b, seed)
	return b
}

// FillPayload fills b with the bytes Payload(len(b), seed) returns.
func FillPayload(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for ; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
}

// WriteData writes data to w in IOBuf-sized Writes and closes it; a failed Write aborts
// nothing (the caller decides), but w is closed only on success.
func WriteData(w io.WriteCloser, data []byte) error {
	for off := 0; off < len(data); off += IOBuf {
		if _, err := w.Write(data[off:min(off+IOBuf, len(data))]); err != nil {
			return fmt.Errorf("write at %d: %w", off, err)
		}
	}
	return w.Close()
}

// WriteFile writes data to path with the write type in IOBuf-sized Writes (creating
// missing parents) and returns how long Create, the Writes and Close took.
func WriteFile(ctx context.Context, cl *client.Client, path string, wt client.WriteType, data []byte) (time.Duration, error) {
	start := time.Now()
	w, err := cl.Create(ctx, path, client.CreateOptions{WriteType: wt, Recursive: true})
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", path, err)
	}
	if err := WriteData(w, data); err != nil {
		return 0, errors.Join(fmt.Errorf("%s: %w", path, err), w.Abort())
	}
	return time.Since(start), nil
}

// Drain opens path with the options and copies it to a discarding writer with
// io.CopyBuffer, and returns the byte count and how long Open, the copy and Close took.
// With viaRead every byte is copied into buf by the reader's Read, as the os.File
// references do; otherwise the copy goes through the reader's WriteTo, as io.Copy
// callers get (a short-circuit reader then hands out its mapping without a copy).
func Drain(ctx context.Context, cl *client.Client, path string, opts client.OpenOptions, buf []byte, viaRead bool) (int64, time.Duration, error) {
	start := time.Now()
	r, err := cl.Open(ctx, path, opts)
	if err != nil {
		return 0, 0, fmt.Errorf("open %s: %w", path, err)
	}
	var src io.Reader = r
	if viaRead {
		src = ReaderOnly{r}
	}
	n, err := io.CopyBuffer(Discard{}, src, buf)
	if err != nil {
		r.Close()
		return n, 0, fmt.Errorf("read %s: %w", path, err)
	}
	if err := r.Close(); err != nil {
		return n, 0, fmt.Errorf("close %s: %w", path, err)
	}
	return n, time.Since(start), nil
}

// Discard is io.Discard without its ReadFrom, so that io.CopyBuffer uses the caller's
// buffer (or the source's WriteTo) rather than io.Discard's small pooled one.
type Discard struct{}

func (Discard) Write(p []byte) (int, error) { return len(p), nil }

// ReaderOnly exposes only Read, hiding a source's WriteTo so a copy goes through the
// caller's buffer.
type ReaderOnly struct{ R io.Reader }

func (r ReaderOnly) Read(p []byte) (int, error) { return r.R.Read(p) }

// PlainWrite writes data into a new file at path in IOBuf-sized writes, fsyncs it when
// asked, closes it and returns how long that took; the file is removed afterwards unless
// keep is set.
func PlainWrite(path string, data []byte, fsync, keep bool) (time.Duration, error) {
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	if !keep {
		defer os.Remove(path)
	}
	for off := 0; off < len(data); off += IOBuf {
		if _, err := f.Write(data[off:min(off+IOBuf, len(data))]); err != nil {
			f.Close()
			return 0, err
		}
	}
	if fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return 0, err
		}
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// PlainRead reads the file at path to its end with os.File through buf and returns the
// byte count and how long open, the reads and close took.
func PlainRead(path string, buf []byte) (int64, time.Duration, error) {
	start := time.Now()
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	n, err := io.CopyBuffer(Discard{}, ReaderOnly{f}, buf)
	if err != nil {
		return n, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return n, time.Since(start), nil
}

// TCPStream is the raw loopback reference of remote reads: every connection accepted on
// its listener gets Data written to it by a goroutine, then closed. One Receive at a time.
type TCPStream struct {
	lis  net.Listener
	data []byte
	errs chan error
}

// NewTCPStream listens on 127.0.0.1 and streams data to each Receive; Close closes the
// listener.
func NewTCPStream(data []byte) (*TCPStream, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tcp reference: %w", err)
	}
	return &TCPStream{lis: lis, data: data, errs: make(chan error, 1)}, nil
}

// Close closes the listener.
func (s *TCPStream) Close() error { return s.lis.Close() }

// Receive connects, lets a goroutine write the data into the server side of the
// connection, drains it with io.CopyBuffer through buf, and returns the bytes received and
// the time from dial to the end of the stream.
func (s *TCPStream) Receive(buf []byte) (int64, time.Duration, error) {
	go func() {
		conn, err := s.lis.Accept()
		if err != nil {
			s.errs <- err
			return
		}
		_, err = conn.Write(s.data)
		if cerr := conn.Close(); err == nil {
			err = cerr
		}
		s.errs <- err
	}()
	start := time.Now()
	conn, err := net.Dial("tcp", s.lis.Addr().String())
	if err != nil {
		s.lis.Close() // ends the Accept
		return 0, 0, errors.Join(err, <-s.errs)
	}
	n, err := io.CopyBuffer(Discard{}, ReaderOnly{conn}, buf)
	d := time.Since(start)
	conn.Close()
	if werr := <-s.errs; err == nil {
		err = werr
	}
	return n, d, err
}
