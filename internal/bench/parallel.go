package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicedata/sluice/client"
)

// Rows of the parallel group.
const (
	// The %d is the client count.
	FigParallelDistinct = "%d clients reading distinct files"
	FigParallelHot      = "%d clients reading one hot file"
	RefParallelDistinct = "as many goroutines reading distinct tmpfs files (os.File)"
	RefParallelHot      = "as many goroutines reading one tmpfs file (os.File)"
)

// parallelGroup measures cfg.Clients clients reading at once, each its own file of
// Size/Clients bytes (at least 1 MiB), then all the same file, beside as many goroutines
// reading plain files of the same sizes on the MEM tier's file system. Every byte is
// copied into each reader's buffer (Read, not WriteTo), as os.File does. The figures
// are aggregate throughputs.
func (r *runner) parallelGroup(ctx context.Context) error {
	r.progress(GroupParallel, "setup", 0)
	clients, err := r.parallelClients(ctx)
	if err != nil {
		return err
	}
	n := len(clients)
	per := max(r.cfg.Size/int64(n), 1<<20)
	data := Payload(int(per), 3)
	dir := r.path("parallel")
	distinct := make([]string, n)
	plain := make([]string, n)
	for i := range n {
		distinct[i] = fmt.Sprintf("%s/file-%02d", dir, i)
		plain[i] = filepath.Join(r.cfg.MemScratch, fmt.Sprintf("parallel-%02d", i))
	}
	hot, plainHot := dir+"/hot", filepath.Join(r.cfg.MemScratch, "parallel-hot")
	defer func() {
		for _, p := range append(plain, plainHot) {
			os.Remove(p)
		}
	}()
	for i := range n {
		if _, err := WriteFile(ctx, clients[i], distinct[i], client.WriteMustCache, data); err != nil {
			return err
		}
		if _, err := PlainWrite(plain[i], data, false, true); err != nil {
			return err
		}
	}
	if _, err := WriteFile(ctx, r.sc, hot, client.WriteMustCache, data); err != nil {
		return err
	}
	if _, err := PlainWrite(plainHot, data, false, true); err != nil {
		return err
	}
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 1<<20)
	}
	all := func(f func(i int) error) (time.Duration, error) {
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		return time.Since(start), errors.Join(errs...)
	}
	sluiceRead := func(path func(i int) string) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			return all(func(i int) error {
				_, err := r.drainAll(ctx, clients[i], path(i), per, bufs[i], true)
				return err
			})
		}
	}
	plainRead := func(path func(i int) string) func() (time.Duration, error) {
		return func() (time.Duration, error) {
			return all(func(i int) error {
				got, _, err := PlainRead(path(i), bufs[i])
				return errors.Join(err, wantBytes("plain read", got, per))
			})
		}
	}
	mb := func(d time.Duration) float64 { return MBps(per, n, d) }
	figDistinct, figHot := fmt.Sprintf(FigParallelDistinct, n), fmt.Sprintf(FigParallelHot, n)
	for run := 1; run <= r.cfg.Runs; run++ {
		r.progress(GroupParallel, figDistinct, run)
		s, ref, err := pairedRun(run, sluiceRead(func(i int) string { return distinct[i] }), plainRead(func(i int) string { return plain[i] }))
		if err != nil {
			return err
		}
		r.add(GroupParallel, figDistinct, UnitMBps, RefParallelDistinct, nil, mb(s), mb(ref))
		r.progress(GroupParallel, figHot, run)
		s, ref, err = pairedRun(run, sluiceRead(func(int) string { return hot }), plainRead(func(int) string { return plainHot }))
		if err != nil {
			return err
		}
		r.add(GroupParallel, figHot, UnitMBps, RefParallelHot, nil, mb(s), mb(ref))
	}
	_, err = r.sc.Delete(ctx, dir, client.DeleteOptions{Recursive: true})
	return err
}
