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
// transfers made twice through the FS and twice through a plain os.File (write+fsync,
// read) in each iteration, with the throughput of each side and their ratio (ufs/os,
// 1 is parity).
func BenchmarkLocal(b *testing.B) {
	newFS := func(t testing.TB) ufs.FS { return newTestFS(t, DefaultOptions()) }
	ufstest.Bench(b, newFS, benchSize)

	chunk := make([]byte, ufstest.BenchChunk)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	b.Run("vs-os/write", func(b *testing.B) {
		fsys := newTestFS(b, DefaultOptions())
		refDir := b.TempDir()
		names := [2]string{"/w-0", "/w-1"}
		refs := [2]string{filepath.Join(refDir, "ref-0"), filepath.Join(refDir, "ref-1")}
		var fsTime, osTime time.Duration
		for range b.N {
			fsOp := func(k int) error { return ufstest.StreamWrite(b.Context(), fsys, names[k], benchSize, chunk) }
			osOp := func(k int) error { return osWrite(refs[k], benchSize, chunk) }
			if err := abba(&fsTime, &osTime, fsOp, osOp); err != nil {
				b.Fatal(err)
			}
			// All files are removed, and the removals committed, outside the
			// measured times, so that neither side pays for freeing blocks (the
			// root file system may discard them at the next journal commit).
			b.StopTimer()
			err := errors.Join(fsys.Delete(b.Context(), names[0]), fsys.Delete(b.Context(), names[1]),
				os.Remove(refs[0]), os.Remove(refs[1]), syncDir(refDir))
			if err != nil {
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
		for range b.N {
			fsOp := func(int) error { return wantSize(ufstest.StreamRead(b.Context(), fsys, "/r", buf)) }
			osOp := func(int) error { return wantSize(osRead(ref, buf)) }
			if err := abba(&fsTime, &osTime, fsOp, osOp); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, fsTime, osTime)
	})
}

// abba runs fsOp(0), osOp(0), osOp(1), fsOp(1) and adds their times, so that each side
// runs first and last equally often in every iteration: on the virtual disks measured
// here the second of two back-to-back 256 MiB writes is often much slower.
func abba(fsTime, osTime *time.Duration, fsOp, osOp func(k int) error) error {
	steps := []struct {
		op  func(int) error
		k   int
		sum *time.Duration
	}{{fsOp, 0, fsTime}, {osOp, 0, osTime}, {osOp, 1, osTime}, {fsOp, 1, fsTime}}
	for _, st := range steps {
		start := time.Now()
		if err := st.op(st.k); err != nil {
			return err
		}
		*st.sum += time.Since(start)
	}
	return nil
}

// reportRatio reports the throughputs of both sides and their ratio (1 is parity).
func reportRatio(b *testing.B, fsTime, osTime time.Duration) {
	mb := 2 * float64(benchSize) * float64(b.N) / 1e6
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

// syncDir fsyncs the directory at path.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
