package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicedata/sluice/client"
)

// Rows of the read group.
const (
	FigShortCircuitRead = "short-circuit read"
	FigRemoteRead       = "remote read (gRPC)"
	FigUFSCachedRead    = "read of a file cached from the local UFS"
	FigS3ColdRead       = "cold read from S3 (MinIO)"

	RefMemcpy     = "memcpy of the same bytes"
	RefPread      = "pread of a file on the same tmpfs"
	RefTCP        = "raw loopback TCP stream"
	RefOSFileRead = "os.File read of the UFS file"
	RefGetObject  = "minio-go GetObject"
)

// Targets of the issue.
var (
	targetShortCircuit = &Target{OnRatio: true, Value: 0.7}
	targetRemote       = &Target{OnRatio: true, Value: 0.6}
)

// ReadSet is what the short-circuit read figure reads: a Sluice file (Path) holding Data,
// the same bytes in a plain file on the MEM tier's file system (Plain), the destination
// buffer of the reads (Dst, as long as Data) and the block size the reads go by.
type ReadSet struct {
	Path, Plain string
	Data, Dst   []byte
	Block       int64
}

// readGroup measures the sequential reads.
func (r *runner) readGroup(ctx context.Context) error {
	r.progress(GroupRead, "setup: writing the file", 0)
	rs := &ReadSet{Path: r.path("read/file"), Plain: filepath.Join(r.cfg.MemScratch, "plain-read"), Data: Payload(int(r.cfg.Size), 1)}
	if _, err := WriteFile(ctx, r.sc, rs.Path, client.WriteMustCache, rs.Data); err != nil {
		return err
	}
	fi, err := r.sc.Stat(ctx, rs.Path)
	if err != nil {
		return err
	}
	rs.Block = fi.BlockSize
	if _, err := PlainWrite(rs.Plain, rs.Data, false, true); err != nil {
		return fmt.Errorf("pread reference file: %w", err)
	}
	defer os.Remove(rs.Plain)
	rs.Dst = make([]byte, len(rs.Data))
	// A first untimed round faults the destination in and checks the bytes.
	if _, err := ShortCircuitRound(ctx, r.sc, rs, 0, true); err != nil {
		return err
	}
	tcp, err := NewTCPStream(rs.Data)
	if err != nil {
		return err
	}
	defer tcp.Close()
	ufsFile, err := r.prepareUFSCached(ctx, rs.Data)
	if err != nil {
		return err
	}
	s3Key, err := r.prepareS3Cold(ctx, rs.Data)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	mb := func(d time.Duration) float64 { return MBps(int64(len(rs.Data)), 1, d) }
	for run := 1; run <= r.cfg.Runs; run++ {
		r.progress(GroupRead, FigShortCircuitRead, run)
		before := r.sc.Stats()
		t, err := ShortCircuitRound(ctx, r.sc, rs, run, false)
		if err != nil {
			return err
		}
		if got := r.sc.Stats().BytesReadShortCircuit - before.BytesReadShortCircuit; got != int64(len(rs.Data)) {
			r.note(fmt.Sprintf("%s: only %d of %d bytes came by short-circuit (is the executor on another host?)", FigShortCircuitRead, got, len(rs.Data)))
		}
		r.add(GroupRead, FigShortCircuitRead, UnitMBps, RefMemcpy, targetShortCircuit, mb(t.Sluice), mb(t.Memcpy))
		r.add(GroupRead, FigShortCircuitRead, UnitMBps, RefPread, nil, mb(t.Sluice), mb(t.Pread))

		r.progress(GroupRead, FigRemoteRead, run)
		s, ref, err := r.remoteRound(ctx, rs, tcp, buf, run%2 == 0)
		if err != nil {
			return err
		}
		r.add(GroupRead, FigRemoteRead, UnitMBps, RefTCP, targetRemote, mb(s), mb(ref))

		r.progress(GroupRead, FigUFSCachedRead, run)
		s, ref, err = pairedRun(run, func() (time.Duration, error) {
			return r.drainAll(ctx, r.sc, ufsFile.sluice, int64(len(rs.Data)), buf, true)
		}, func() (time.Duration, error) {
			n, d, err := PlainRead(ufsFile.local, buf)
			return d, errors.Join(err, wantBytes("os.File reference", n, int64(len(rs.Data))))
		})
		if err != nil {
			return err
		}
		r.add(GroupRead, FigUFSCachedRead, UnitMBps, RefOSFileRead, nil, mb(s), mb(ref))

		if s3Key == "" {
			continue
		}
		r.progress(GroupRead, FigS3ColdRead, run)
		if s, ref, err = r.s3ColdRound(ctx, s3Key, int64(len(rs.Data)), buf, run); err != nil {
			return err
		}
		r.add(GroupRead, FigS3ColdRead, UnitMBps, RefGetObject, nil, mb(s), mb(ref))
	}
	// Every file of the group goes (from the UFS too), so that the next groups start
	// with empty executors.
	for _, p := range []string{r.path("read"), ufsFile.sluice, r.path("s3/cold")} {
		if _, err := r.sc.Delete(ctx, p, client.DeleteOptions{Recursive: true}); err != nil && !errors.Is(err, client.ErrNotFound) {
			return err
		}
	}
	return nil
}

// wantBytes is an error when got differs from want.
func wantBytes(what string, got, want int64) error {
	if got != want {
		return fmt.Errorf("%s: %d bytes, want %d", what, got, want)
	}
	return nil
}

// pairedRun runs measured and ref one after the other, the reference first on odd runs,
// and returns both durations.
func pairedRun(run int, measured, ref func() (time.Duration, error)) (m, rf time.Duration, err error) {
	if run%2 == 1 {
		if rf, err = ref(); err != nil {
			return 0, 0, err
		}
	}
	if m, err = measured(); err != nil {
		return 0, 0, err
	}
	if run%2 == 0 {
		if rf, err = ref(); err != nil {
			return 0, 0, err
		}
	}
	return m, rf, nil
}

// drainAll reads path to its end through cl and checks the byte count.
// With viaRead the bytes are copied into buf (see Drain).
func (r *runner) drainAll(ctx context.Context, cl *client.Client, path string, want int64, buf []byte, viaRead bool) (time.Duration, error) {
	n, d, err := Drain(ctx, cl, path, client.OpenOptions{}, buf, viaRead)
	if err != nil {
		return 0, err
	}
	return d, wantBytes("read of "+path, n, want)
}

// SCTimes are the durations of one ShortCircuitRound.
type SCTimes struct {
	Sluice, Memcpy, Pread time.Duration
}

// ShortCircuitRound reads the whole file into rs.Dst three ways, interleaved block by
// block so that all three meet the same load on a shared machine: sequential Reads of one
// FileReader through the short-circuit client (Open and Close timed too), copy() of the
// in-memory bytes (the memcpy reference), and pread of the plain tmpfs file (the pread
// reference). The order of the three rotates with the block and the round. With verify
// it checks the bytes the client read.
func ShortCircuitRound(ctx context.Context, cl *client.Client, rs *ReadSet, round int, verify bool) (SCTimes, error) {
	var t SCTimes
	plain, err := os.Open(rs.Plain)
	if err != nil {
		return t, err
	}
	defer plain.Close()
	t0 := time.Now()
	rd, err := cl.Open(ctx, rs.Path, client.OpenOptions{})
	t.Sluice += time.Since(t0)
	if err != nil {
		return t, fmt.Errorf("open %s: %w", rs.Path, err)
	}
	defer rd.Close()
	var lo, hi int64
	dst, data := rs.Dst, rs.Data
	parts := []func() error{
		func() error {
			t0 := time.Now()
			_, err := io.ReadFull(rd, dst[lo:hi])
			t.Sluice += time.Since(t0)
			if err != nil {
				return fmt.Errorf("read %s at %d: %w", rs.Path, lo, err)
			}
			if verify && !bytes.Equal(dst[lo:hi], data[lo:hi]) {
				return fmt.Errorf("short-circuit read of %s at %d: bytes differ from those written", rs.Path, lo)
			}
			return nil
		},
		func() error {
			t0 := time.Now()
			copy(dst[lo:hi], data[lo:hi])
			t.Memcpy += time.Since(t0)
			return nil
		},
		func() error {
			t0 := time.Now()
			_, err := plain.ReadAt(dst[lo:hi], lo)
			t.Pread += time.Since(t0)
			if err != nil {
				return fmt.Errorf("pread reference at %d: %w", lo, err)
			}
			return nil
		},
	}
	for i := 0; lo < int64(len(dst)); i++ {
		hi = min(lo+rs.Block, int64(len(dst)))
		for k := range parts {
			if err := parts[(round+i+k)%len(parts)](); err != nil {
				return t, err
			}
		}
		lo = hi
	}
	t0 = time.Now()
	err = rd.Close()
	t.Sluice += time.Since(t0)
	if err != nil {
		return t, fmt.Errorf("close %s: %w", rs.Path, err)
	}
	return t, nil
}

// remoteRound streams the file through the gRPC-only client into a discarding writer and
// the same bytes through a raw loopback TCP connection, the reference first when
// refFirst. It returns both durations and checks that no byte came by short-circuit.
func (r *runner) remoteRound(ctx context.Context, rs *ReadSet, tcp *TCPStream, buf []byte, refFirst bool) (sluice, ref time.Duration, err error) {
	before := r.remote.Stats()
	run := 1
	if !refFirst {
		run = 2
	}
	sluice, ref, err = pairedRun(run, func() (time.Duration, error) {
		return r.drainAll(ctx, r.remote, rs.Path, int64(len(rs.Data)), buf, false)
	}, func() (time.Duration, error) {
		n, d, err := tcp.Receive(buf)
		return d, errors.Join(err, wantBytes("tcp reference", n, int64(len(rs.Data))))
	})
	if err == nil && r.remote.Stats().BytesReadRemote-before.BytesReadRemote != int64(len(rs.Data)) {
		err = fmt.Errorf("%s: the gRPC-only client read %s other than over gRPC", FigRemoteRead, rs.Path)
	}
	return sluice, ref, err
}

// ufsFile is a file of the local UFS: its Sluice path and its path on the disk.
type ufsFile struct{ sluice, local string }

// prepareUFSCached writes data into a file of the local UFS directly and reads it once
// through Sluice, untimed, which caches it.
func (r *runner) prepareUFSCached(ctx context.Context, data []byte) (ufsFile, error) {
	r.progress(GroupRead, "setup: caching a file of the local UFS", 0)
	mount, dir, err := r.localUFS(ctx)
	if err != nil {
		return ufsFile{}, err
	}
	f := ufsFile{sluice: mount + "/cached", local: filepath.Join(dir, "cached")}
	if _, err := PlainWrite(f.local, data, true, true); err != nil {
		return f, fmt.Errorf("local UFS file: %w", err)
	}
	if _, err := r.drainAll(ctx, r.sc, f.sluice, int64(len(data)), make([]byte, 1<<20), false); err != nil {
		return f, fmt.Errorf("first read, which caches it: %w", err)
	}
	return f, r.waitCached(ctx, f.sluice, true)
}

// waitCached polls the block locations of path until every block has a copy (cached)
// or none has (!cached), up to a minute.
func (r *runner) waitCached(ctx context.Context, path string, cached bool) error {
	return Poll(ctx, time.Minute, 5*time.Millisecond, func() (bool, error) {
		bl, err := r.sc.BlockLocations(ctx, path)
		if err != nil {
			return false, err
		}
		for _, b := range bl.GetBlocks() {
			if (len(b.GetLocations()) > 0) != cached {
				return false, nil
			}
		}
		return true, nil
	})
}

// prepareS3Cold puts data into the bucket with minio-go, under the Sluice mount of the
// bucket, and returns its key; "" (and a skipped row) without an object store.
func (r *runner) prepareS3Cold(ctx context.Context, data []byte) (string, error) {
	if r.cfg.S3 == nil {
		r.skip(GroupRead, FigS3ColdRead, UnitMBps, RefGetObject, nil, r.cfg.S3Skip)
		return "", nil
	}
	r.progress(GroupRead, "setup: uploading a file to MinIO", 0)
	if _, _, err := r.objectStore(ctx); err != nil {
		return "", err
	}
	key := s3Prefix + "/ufs/cold"
	if _, err := putObject(ctx, r.minio, r.cfg.S3.Bucket, key, data); err != nil {
		return "", err
	}
	return key, nil
}

// s3ColdRound frees the cached copy of the object's file, waits until no executor holds
// it, then reads it through Sluice (from the UFS: a cold read, which caches it again) and
// with minio-go GetObject, in turns.
func (r *runner) s3ColdRound(ctx context.Context, key string, size int64, buf []byte, run int) (sluice, ref time.Duration, err error) {
	path := r.path("s3/cold")
	if _, err := r.sc.Stat(ctx, path); err == nil {
		if _, err := r.sc.Free(ctx, path, client.FreeOptions{}); err != nil {
			return 0, 0, err
		}
		if err := r.waitCached(ctx, path, false); err != nil {
			return 0, 0, fmt.Errorf("free %s: %w", path, err)
		}
	}
	return pairedRun(run, func() (time.Duration, error) {
		return r.drainAll(ctx, r.sc, path, size, buf, true)
	}, func() (time.Duration, error) {
		n, d, err := getObject(ctx, r.minio, r.cfg.S3.Bucket, key, buf)
		return d, errors.Join(err, wantBytes("GetObject", n, size))
	})
}
