package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/ufstest"
)

// benchSize is the file size of the benchmarks: larger than a block, small enough for
// -benchtime 3x to finish in seconds.
const benchSize = 256 << 20

// BenchmarkLocal reports the throughput of the local FS (Sync on, as CACHE_THROUGH
// uses it) through ufstest.Bench, then, in the vs-os sub-benchmarks, the same
// transfers through the FS and through a plain os.File (write+fsync, read) in each
// iteration, in alternating order, with the ratio FS/os.File of their throughputs.
func BenchmarkLocal(b *testing.B) {
	newFS := func(t testing.TB) ufs.FS { return newTestFS(t, DefaultOptions()) }
	ufstest.Bench(b, newFS, benchSize)

	chunk := make([]byte, ufstest.BenchChunk)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	b.Run("vs-os/write", func(b *testing.B) {
		fsys := newTestFS(b, DefaultOptions())
		ref := filepath.Join(b.TempDir(), "ref")
		var fsTime, osTime time.Duration
		for i := range b.N {
			name := fmt.Sprintf("/w-%d", i)
			fsOp := func() error { return ufstest.StreamWrite(b.Context(), fsys, name, benchSize, chunk) }
			osOp := func() error { return osWrite(ref, benchSize, chunk) }
			if err := alternate(i, &fsTime, &osTime, fsOp, osOp); err != nil {
				b.Fatal(err)
			}
			// Both files are removed outside the measured times, so that neither
			// side pays for freeing the other's blocks or truncating its own.
			b.StopTimer()
			if err := errors.Join(fsys.Delete(b.Context(), name), os.Remove(ref)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportRatio(b, fsTime, osTime)
	})
	b.Run("vs-os/read", func(b *testing.B) {
		fsys := newTestFS(b, DefaultOptions())
		if err := ufstest.StreamWrite(b.Context(), fsys, "/r", benchSize, chunk); err != nil {
			b.Fatal(err)
		}
		ref, err := fsys.LocalPath("/r")
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, ufstest.BenchChunk)
		var fsTime, osTime time.Duration
		b.ResetTimer()
		for i := range b.N {
			fsOp := func() error { return wantSize(ufstest.StreamRead(b.Context(), fsys, "/r", buf)) }
			osOp := func() error { return wantSize(osRead(ref, buf)) }
			if err := alternate(i, &fsTime, &osTime, fsOp, osOp); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, fsTime, osTime)
	})
}

// alternate runs fsOp and osOp, fsOp first in even iterations, adding their times.
func alternate(i int, fsTime, osTime *time.Duration, fsOp, osOp func() error) error {
	ops := []func() error{fsOp, osOp}
	times := []*time.Duration{fsTime, osTime}
	for k := range 2 {
		j := (i + k) % 2
		start := time.Now()
		if err := ops[j](); err != nil {
			return err
		}
		*times[j] += time.Since(start)
	}
	return nil
}

// reportRatio reports the throughputs of both sides and their ratio (1 is parity).
func reportRatio(b *testing.B, fsTime, osTime time.Duration) {
	mb := float64(benchSize) * float64(b.N) / 1e6
	b.ReportMetric(mb/fsTime.Seconds(), "ufs-MB/s")
	b.ReportMetric(mb/osTime.Seconds(), "os-MB/s")
	b.ReportMetric(osTime.Seconds()/fsTime.Seconds(), "ufs/os")
}

// osWrite writes size bytes of chunk to a new file at path with plain os.File calls,
// fsyncs and closes it: the reference for a durable create.
func osWrite(path string, size int64, chunk []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for left := size; left > 0; {
		p := chunk[:min(int64(len(chunk)), left)]
		if _, err := f.Write(p); err != nil {
			f.Close()
			return err
		}
		left -= int64(len(p))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// osRead reads the file at path in Reads of len(buf) bytes and returns its length.
func osRead(path string, buf []byte) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	for {
		n, err := f.Read(buf)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// wantSize checks that a read returned benchSize bytes.
func wantSize(n int64, err error) error {
	if err == nil && n != benchSize {
		err = fmt.Errorf("read %d bytes, want %d", n, benchSize)
	}
	return err
}
