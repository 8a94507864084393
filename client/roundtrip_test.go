package client

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client/clienttest"
)

const testBlockSize = 64 << 10

// testSizes cover empty files, one byte, block boundaries and a multi-block tail.
var testSizes = []int{0, 1, testBlockSize - 1, testBlockSize, testBlockSize + 1, 3*testBlockSize + 17}

func TestRoundTrip_WriteTypes(t *testing.T) {
	writeTypes := []WriteType{WriteMustCache, WriteCacheThrough, WriteThrough, WriteAsyncThrough}
	hosts := []struct {
		name string
		host string
	}{
		{"local", ""},
		{"remote", "elsewhere.example"},
	}
	for _, h := range hosts {
		t.Run(h.name, func(t *testing.T) {
			c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: h.host}}})
			cl := newClient(t, c, nil)
			for _, wt := range writeTypes {
				for _, size := range testSizes {
					t.Run(fmt.Sprintf("%s/%d", wt, size), func(t *testing.T) {
						path := fmt.Sprintf("/rt/%s/%d", wt, size)
						data := payload(size, uint64(size)+uint64(wt))
						before := cl.Stats()
						info := writeFile(t, cl, path, data, CreateOptions{WriteType: wt, BlockSize: testBlockSize, Recursive: true})
						checkWritten(t, c, cl, before, wt, h.host == "", info, data)
						checkRead(t, cl, path, data)
					})
				}
			}
		})
	}
}

// checkWritten checks the completed file's metadata and the data path the write took.
func checkWritten(t *testing.T, c *clienttest.Cluster, cl *Client, before Stats, wt WriteType, local bool, info FileInfo, data []byte) {
	t.Helper()
	if !info.Complete || info.Length != int64(len(data)) {
		t.Fatalf("after Close: complete=%v length=%d, want complete with %d bytes", info.Complete, info.Length, len(data))
	}
	if want := crc32.Checksum(data, castagnoli); !info.HasContentCRC32C || info.ContentCRC32C != want {
		t.Errorf("content CRC32C = %08x (set %v), want %08x", info.ContentCRC32C, info.HasContentCRC32C, want)
	}
	wantBlocks := (len(data) + testBlockSize - 1) / testBlockSize
	if len(info.BlockIDs) != wantBlocks {
		t.Errorf("blocks = %d, want %d", len(info.BlockIDs), wantBlocks)
	}
	wantPersist := map[WriteType]sluicepb.PersistenceState{
		WriteMustCache:    sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED,
		WriteCacheThrough: sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED,
		WriteThrough:      sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED,
		WriteAsyncThrough: sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED,
	}[wt]
	if info.Persistence != wantPersist {
		t.Errorf("persistence = %v, want %v", info.Persistence, wantPersist)
	}
	if wt == WriteCacheThrough || wt == WriteThrough {
		got, ok := c.UFS(info.UFSPath)
		if !ok || !bytes.Equal(got, data) {
			t.Errorf("UFS copy at %s: present=%v, equal=%v", info.UFSPath, ok, bytes.Equal(got, data))
		}
	}
	after := cl.Stats()
	sc := after.BytesWrittenShortCircuit - before.BytesWrittenShortCircuit
	remote := after.BytesWrittenRemote - before.BytesWrittenRemote
	ufs := after.BytesWrittenUFS - before.BytesWrittenUFS
	n := int64(len(data))
	var want [3]int64
	switch {
	case wt == WriteThrough:
		want = [3]int64{0, 0, n}
	case local:
		want = [3]int64{n, 0, 0}
	default:
		want = [3]int64{0, n, 0}
	}
	if got := [3]int64{sc, remote, ufs}; got != want {
		t.Errorf("bytes written (short-circuit, remote, ufs) = %v, want %v", got, want)
	}
}

// checkRead reads path through Read, ReadAt at block boundaries, Seek and WriteTo.
func checkRead(t *testing.T, cl *Client, path string, data []byte) {
	t.Helper()
	if got := readFile(t, cl, path, OpenOptions{}); !bytes.Equal(got, data) {
		t.Fatalf("Read: got %d bytes, want %d (equal=%v)", len(got), len(data), bytes.Equal(got, data))
	}
	r, err := cl.Open(t.Context(), path, OpenOptions{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	n := int64(len(data))
	for _, off := range []int64{0, 1, testBlockSize - 3, testBlockSize, 2*testBlockSize - 1, n - 5, n - 1} {
		for _, length := range []int64{1, 7, testBlockSize + 10} {
			if off < 0 || off >= n {
				continue
			}
			buf := make([]byte, length)
			got, err := r.ReadAt(buf, off)
			want := min(length, n-off)
			if int64(got) != want || (want < length) != errors.Is(err, io.EOF) || (want == length && err != nil) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v; want %d", length, off, got, err, want)
			}
			if !bytes.Equal(buf[:got], data[off:off+want]) {
				t.Fatalf("ReadAt(%d bytes at %d): wrong bytes", length, off)
			}
		}
	}
	if _, err := r.ReadAt(make([]byte, 1), n); !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt at the end: %v, want io.EOF", err)
	}
	for _, off := range []int64{n / 2, testBlockSize, 0, n} {
		if off > n {
			continue
		}
		if pos, err := r.Seek(off, io.SeekStart); err != nil || pos != off {
			t.Fatalf("Seek(%d) = %d, %v", off, pos, err)
		}
		var buf bytes.Buffer
		m, err := r.WriteTo(&buf)
		if err != nil || m != n-off || !bytes.Equal(buf.Bytes(), data[off:]) {
			t.Fatalf("WriteTo after Seek(%d) = %d, %v; want %d matching bytes", off, m, err, n-off)
		}
	}
	// Read after Seek, across a block boundary when the file has one.
	for _, off := range []int64{n / 3, max(0, testBlockSize-10), 0} {
		if off >= n {
			continue
		}
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, min(100, n-off))
		if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
			t.Fatalf("Read after Seek(%d): %v", off, err)
		}
		if cur, _ := r.Seek(0, io.SeekCurrent); cur != off+int64(len(buf)) {
			t.Fatalf("offset after reading %d bytes at %d = %d", len(buf), off, cur)
		}
	}
	if pos, err := r.Seek(-1, io.SeekEnd); n > 0 && (err != nil || pos != n-1) {
		t.Fatalf("Seek(-1, end) = %d, %v", pos, err)
	}
	if _, err := r.Seek(-1, io.SeekStart); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Seek to -1: %v, want ErrInvalidArgument", err)
	}
}

func TestShortCircuit_UsedOnlyOnSameHost(t *testing.T) {
	tests := []struct {
		name         string
		host         string
		shortCircuit bool
		wantSC       bool
	}{
		{"same host", "", true, true},
		{"other host", "elsewhere.example", true, false},
		{"disabled", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: tt.host}}})
			cl := newClient(t, c, func(cfg *Config) { cfg.ShortCircuit = tt.shortCircuit })
			data := payload(3*testBlockSize+5, 1)
			writeFile(t, cl, "/f", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
			before := cl.Stats()
			if got := readFile(t, cl, "/f", OpenOptions{}); !bytes.Equal(got, data) {
				t.Fatal("read back wrong bytes")
			}
			s := cl.Stats()
			sc, remote := s.BytesReadShortCircuit-before.BytesReadShortCircuit, s.BytesReadRemote-before.BytesReadRemote
			want := [2]int64{0, int64(len(data))}
			if tt.wantSC {
				want = [2]int64{int64(len(data)), 0}
				if s.BytesWrittenShortCircuit != int64(len(data)) {
					t.Errorf("short-circuit bytes written = %d, want %d", s.BytesWrittenShortCircuit, len(data))
				}
			}
			if got := [2]int64{sc, remote}; got != want {
				t.Errorf("bytes read (short-circuit, remote) = %v, want %v", got, want)
			}
			if n := c.Executors()[0].OpenLocks(); n != 0 {
				t.Errorf("%d short-circuit locks left after Close", n)
			}
		})
	}
}

func TestShortCircuit_InaccessiblePathFallsBack(t *testing.T) {
	// The executor claims this host, but the block file paths it gives cannot be opened
	// here (as from another mount namespace): writes and reads fall back to streams.
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{PathPrefix: "/nonexistent-namespace"}}})
	cl := newClient(t, c, nil)
	data := payload(2*testBlockSize+9, 2)
	writeFile(t, cl, "/f", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	if got := readFile(t, cl, "/f", OpenOptions{}); !bytes.Equal(got, data) {
		t.Fatal("read back wrong bytes")
	}
	s := cl.Stats()
	if s.BytesWrittenShortCircuit != 0 || s.BytesWrittenRemote != int64(len(data)) ||
		s.BytesReadShortCircuit != 0 || s.BytesReadRemote != int64(len(data)) {
		t.Errorf("stats: %+v, want every byte streamed", s)
	}
	e := c.Executors()[0]
	if e.OpenLocks() != 0 || e.PendingLocalWrites() != 0 {
		t.Errorf("executor left with %d locks and %d pending local writes", e.OpenLocks(), e.PendingLocalWrites())
	}
}

func TestReader_ConcurrentReadAt(t *testing.T) {
	for _, host := range []string{"", "elsewhere.example"} {
		t.Run("host="+host, func(t *testing.T) {
			c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: host}}})
			cl := newClient(t, c, nil)
			data := payload(20*testBlockSize+3, 3)
			writeFile(t, cl, "/f", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
			r, err := cl.Open(t.Context(), "/f", OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := range 8 {
				wg.Go(func() {
					for i := range 20 {
						off := int64((g*7919 + i*104729) % len(data))
						buf := make([]byte, min(int64(testBlockSize+100), int64(len(data))-off))
						if _, err := r.ReadAt(buf, off); err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
							errs <- fmt.Errorf("wrong bytes at %d", off)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			e := c.Executors()[0]
			if n := e.OpenLocks(); n > maxLocalBlocks {
				t.Errorf("%d short-circuit locks held, want at most %d", n, maxLocalBlocks)
			}
			if host == "" && cl.Stats().ReadFallbacks != 0 {
				t.Errorf("%d fallbacks: evicting a block in use must not break a concurrent read", cl.Stats().ReadFallbacks)
			}
			if err := r.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
			if n := e.OpenLocks(); n != 0 {
				t.Errorf("%d short-circuit locks held after Close", n)
			}
		})
	}
}

func TestReader_Errors(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	if _, err := cl.Mkdir(t.Context(), "/d", MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Create(t.Context(), "/incomplete", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	tests := []struct {
		path string
		want error
	}{
		{"/d", ErrIsADirectory},
		{"/incomplete", ErrFileIncomplete},
		{"/missing", ErrNotFound},
		{"relative", ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if _, err := cl.Open(t.Context(), tt.path, OpenOptions{}); !errors.Is(err, tt.want) {
				t.Fatalf("Open(%s) = %v, want %v", tt.path, err, tt.want)
			}
		})
	}
	writeFile(t, cl, "/f", []byte("abc"), CreateOptions{})
	r, err := cl.Open(t.Context(), "/f", OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
}

func TestClient_ConcurrentWritersAndReaders(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{}, {Host: "node-b"}}})
	cl := newClient(t, c, nil)
	types := []WriteType{WriteMustCache, WriteCacheThrough, WriteThrough, WriteAsyncThrough}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 4 {
				path := fmt.Sprintf("/c/%d/%d", g, i)
				data := payload((g*37+i*101)%(3*testBlockSize)+1, uint64(g*10+i))
				opts := CreateOptions{WriteType: types[(g+i)%len(types)], BlockSize: testBlockSize, Recursive: true}
				if _, err := cl.WriteFile(t.Context(), path, data, opts); err != nil {
					errs <- fmt.Errorf("write %s: %w", path, err)
					return
				}
				got, err := cl.ReadFile(t.Context(), path, OpenOptions{ReadType: ReadType(1 + (g+i)%3)})
				if err != nil || !bytes.Equal(got, data) {
					errs <- fmt.Errorf("read %s: %d bytes, %v", path, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := cl.List(t.Context(), "/c", ListOptions{Recursive: true})
	if err != nil || len(list) != 8+32 {
		t.Errorf("List = %d entries, %v; want 40", len(list), err)
	}
}
