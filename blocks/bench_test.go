package blocks_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/blocks/blockstest"
)

// The benchmarks move 1 GiB through the MEM tier in 4 MiB operations, as 16 blocks of
// 64 MiB (the default block size), and set each block beside a plain copy of the same
// bytes timed right after it: copy_ratio is the median over the blocks of the copy's
// time over the Store's (the Store's throughput relative to the copy), which keeps
// bursts of load from other processes on a shared machine from deciding the figure.

const (
	benchTotal = 1 << 30
	benchBlock = 64 << 20
	benchOp    = 4 << 20
)

var benchSrc = sync.OnceValue(func() []byte { return blockstest.Data(42, benchTotal) })

// copyRef times copying src to dst in benchOp pieces; dst is either as long as src or
// one operation long (reused).
func copyRef(src, dst []byte) time.Duration {
	start := time.Now()
	for off := 0; off < len(src); off += benchOp {
		if len(dst) == len(src) {
			copy(dst[off:off+benchOp], src[off:])
		} else {
			copy(dst, src[off:off+benchOp])
		}
	}
	return time.Since(start)
}

func benchStore(b *testing.B, recycle bool) *blocks.Store {
	cfg := blockstest.Config(b, 2*benchTotal)
	cfg.DisableRecycle = !recycle
	cfg.HighWatermark, cfg.LowWatermark = 1, 0.9
	return blockstest.Open(b, cfg)
}

// writeAll writes the 16 blocks of src. If dst is set, each block is followed by the
// reference copy of the same bytes into dst, timed apart, so that both see the same
// machine load; it returns the times per block.
func writeAll(b *testing.B, s *blocks.Store, src, dst []byte) (pairs []pair) {
	ctx := context.Background()
	for i := 0; i < len(src)/benchBlock; i++ {
		start := time.Now()
		tb, err := s.CreateTemp(ctx, blocks.ID(i), benchBlock, blocks.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for off := i * benchBlock; off < (i+1)*benchBlock; off += benchOp {
			if _, err := tb.Write(src[off : off+benchOp]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := tb.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		p := pair{store: time.Since(start)}
		if dst != nil {
			p.ref = copyRef(src[i*benchBlock:(i+1)*benchBlock], dst[i*benchBlock:(i+1)*benchBlock])
		}
		pairs = append(pairs, p)
	}
	return pairs
}

// pair is the time of one block in the Store and of the reference copy of its bytes.
type pair struct{ store, ref time.Duration }

func removeAll(b *testing.B, s *blocks.Store, total int) {
	for i := 0; i < total/benchBlock; i++ {
		if err := s.Remove(context.Background(), blocks.ID(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemWrite writes 1 GiB into the MEM tier in steady state: the tier has held
// blocks before, so the writes reuse recycled files. The reference copies into a
// buffer of 1 GiB whose pages are already in place.
func BenchmarkMemWrite(b *testing.B) { benchWrite(b, true, benchTotal) }

// BenchmarkMemWriteCold writes into fresh tmpfs pages (recycling off): the kernel has to
// allocate and zero every page, which bounds this case (see the package doc). It moves
// 256 MiB only, to keep the benchmark run short: it is ten times slower.
func BenchmarkMemWriteCold(b *testing.B) { benchWrite(b, false, benchTotal/4) }

func benchWrite(b *testing.B, recycle bool, total int) {
	src := benchSrc()[:total]
	s := benchStore(b, recycle)
	dst := make([]byte, total)
	copyRef(src, dst) // fault the reference's pages in
	// Two rounds reach the steady state: the first leaves files to recycle, the
	// second leaves them mapped. Without recycling every round is the same.
	for range map[bool]int{true: 2, false: 0}[recycle] {
		writeAll(b, s, src, nil)
		removeAll(b, s, total)
	}
	var pairs []pair
	b.SetBytes(int64(total))
	b.ResetTimer()
	for range b.N {
		pairs = append(pairs, writeAll(b, s, src, dst)...)
		b.StopTimer()
		removeAll(b, s, total)
		b.StartTimer()
	}
	reportRatio(b, pairs)
}

// reportRatio reports the throughput of the Store and of the reference copy over all
// blocks, and copy_ratio, the median over the blocks of ref/store. The reference copies
// run inside the timed loop, so ns/op counts both; the Store's own figure is store_MB/s.
func reportRatio(b *testing.B, pairs []pair) {
	var store, ref time.Duration
	ratios := make([]float64, len(pairs))
	for i, p := range pairs {
		store, ref = store+p.store, ref+p.ref
		ratios[i] = p.ref.Seconds() / p.store.Seconds()
	}
	slices.Sort(ratios)
	bytes := float64(benchBlock) * float64(len(pairs))
	b.ReportMetric(bytes/store.Seconds()/1e6, "store_MB/s")
	b.ReportMetric(bytes/ref.Seconds()/1e6, "copy_MB/s")
	b.ReportMetric(ratios[len(ratios)/2], "copy_ratio")
}

// BenchmarkMemRead reads 1 GiB from the MEM tier into a 4 MiB buffer, verifying every
// chunk checksum; the reference copies the same bytes from memory into a 4 MiB buffer.
func BenchmarkMemRead(b *testing.B) {
	src := benchSrc()
	s := benchStore(b, true)
	writeAll(b, s, src, nil)
	ctx := context.Background()
	p := make([]byte, benchOp)
	readAll := func(ref bool) (pairs []pair) {
		for i := 0; i < benchTotal/benchBlock; i++ {
			start := time.Now()
			r, err := s.OpenBlock(ctx, blocks.ID(i))
			if err != nil {
				b.Fatal(err)
			}
			for off := int64(0); off < benchBlock; off += benchOp {
				if _, err := r.ReadAt(p, off); err != nil {
					b.Fatal(err)
				}
			}
			r.Close()
			pr := pair{store: time.Since(start)}
			if ref {
				pr.ref = copyRef(src[i*benchBlock:(i+1)*benchBlock], p)
			}
			pairs = append(pairs, pr)
		}
		return pairs
	}
	readAll(false)
	var pairs []pair
	b.SetBytes(benchTotal)
	b.ResetTimer()
	for range b.N {
		pairs = append(pairs, readAll(true)...)
	}
	reportRatio(b, pairs)
}
