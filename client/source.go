package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// sourceKind says how a block is read.
type sourceKind int

const (
	// sourceShortCircuit reads the block file of an executor on this host.
	sourceShortCircuit sourceKind = iota
	// sourceRemote streams a cached copy from an executor.
	sourceRemote
	// sourceUFS streams the block through an executor that reads the UFS copy.
	sourceUFS
)

// source is one place a block can be read from.
type source struct {
	kind sourceKind
	addr string
	host string
}

// sourceKey identifies a source in the reader's bookkeeping; kind anyKind stands for
// every kind of source on an executor.
type sourceKey struct {
	kind sourceKind
	addr string
}

// anyKind marks an executor found unreachable, whatever it would serve.
const anyKind sourceKind = -1

func (s source) key() sourceKey { return sourceKey{s.kind, s.addr} }

// maxLocalBlocks bounds the short-circuit blocks a reader keeps locked and open.
const maxLocalBlocks = 8

// tryBlock reads want bytes of block id through read, which gets a source and the number
// of bytes done so far and returns how many more it delivered. A source that fails is
// marked bad for this reader and the read resumes from the same offset on the next
// source: short-circuit copies first, then remote copies, then the UFS through an executor
// (this host's first). When every source failed, the block's locations are fetched again:
// at once the first time, then asking the master to wait for a recompute of the file
// (its executor died mid-read and the file is, or is about to be, LOST), with a growing
// pause, until Config.RecomputeWait has passed since the first refresh. Context errors
// and errors of a WriteTo destination end the read at once.
// endsBlock tells that the read runs to the block's end (see noteCached).
func (r *FileReader) tryBlock(id uint64, want int64, endsBlock bool, read func(src source, done int64) (int64, error)) (int64, error) {
	var done int64
	var last error
	var refreshes int
	var deadline time.Time
	var tried map[sourceKey]bool
	for done < want {
		if err := r.ctx.Err(); err != nil {
			return done, err
		}
		src, ok, err := r.nextSource(id, tried)
		if err != nil {
			return done, err
		}
		if !ok {
			if refreshes == 0 {
				deadline = time.Now().Add(r.c.cfg.RecomputeWait)
			}
			// Waiting helps only when the sources went away (a lost executor, whose file
			// the master is about to recompute), not when they answered with an error.
			gone := last == nil || errors.Is(last, ErrUnavailable) || errors.Is(last, ErrFileLost)
			if refreshes == 0 || gone && time.Now().Before(deadline) {
				if err := r.refreshAfterFailure(refreshes); err != nil {
					return done, err
				}
				refreshes++
				clear(tried)
				continue
			}
			if last == nil {
				return done, fmt.Errorf("read %s: block %d has no copy and no UFS source: %w", r.path, id, ErrFileLost)
			}
			return done, fmt.Errorf("read %s: block %d: every source failed, last: %w", r.path, id, last)
		}
		n, err := read(src, done)
		done += n
		if err == nil {
			if done < want {
				// A source that delivers less without an error is broken.
				err = fmt.Errorf("block %d on %s: %w", id, src.addr, ErrShortBlock)
			} else {
				if endsBlock {
					r.noteCached(id, src)
				}
				return done, nil
			}
		}
		var se *sinkError
		if isContextErr(err) && r.ctx.Err() != nil || errors.As(err, &se) {
			return done, err
		}
		if errors.Is(err, ErrClosed) {
			return done, err
		}
		r.c.log.Debug("block source failed, trying the next", "block_id", id, "source", src.addr, "kind", src.kind, "err", err)
		r.c.stats.readFallbacks.Add(1)
		if tried == nil {
			tried = make(map[sourceKey]bool)
		}
		tried[src.key()] = true
		// A short-circuit copy that is not there (yet) stays usable for other reads; a
		// broken source is avoided from now on.
		notHere := src.kind == sourceShortCircuit && errors.Is(err, ErrNotFound)
		if !isLocalFileErr(err) && !errors.Is(err, os.ErrClosed) && !notHere {
			r.markBad(src, errors.Is(err, ErrUnavailable))
		}
		last = err
	}
	return done, nil
}

// markBad excludes src from this reader's later reads; an unreachable executor is
// excluded for every kind of source it could serve.
func (r *FileReader) markBad(src source, unreachable bool) {
	r.bmu.Lock()
	r.bad[src.key()] = true
	if unreachable {
		r.bad[sourceKey{anyKind, src.addr}] = true
	}
	r.bmu.Unlock()
}

// nextSource returns the first source of block id that is neither bad nor tried.
func (r *FileReader) nextSource(id uint64, tried map[sourceKey]bool) (source, bool, error) {
	b := r.block(id)
	if b == nil {
		// A complete file's blocks never change; one missing from the list is being
		// rebuilt by a recompute (see blockAt): no source yet, tryBlock waits for one.
		return source{}, false, nil
	}
	usable := func(s source) bool {
		r.bmu.Lock()
		defer r.bmu.Unlock()
		return !tried[s.key()] && !r.bad[s.key()] && !r.bad[sourceKey{anyKind, s.addr}]
	}
	var remote []source
	for _, loc := range b.GetLocations() {
		addr := loc.GetRpcAddress()
		if r.c.shortCircuitOK(loc.GetHost(), addr) {
			if s := (source{kind: sourceShortCircuit, addr: addr, host: loc.GetHost()}); usable(s) {
				return s, true, nil
			}
			// A failed short-circuit may still be served over the transport.
		}
		s := source{kind: sourceRemote, addr: addr, host: loc.GetHost()}
		if r.c.isLocal(loc.GetHost(), addr) {
			remote = append([]source{s}, remote...)
		} else {
			remote = append(remote, s)
		}
	}
	for _, s := range remote {
		if usable(s) {
			return s, true, nil
		}
	}
	if b.GetUfs() == nil {
		return source{}, false, nil
	}
	for refresh := range 2 {
		execs, err := r.c.liveExecutors(r.ctx, refresh == 1)
		if err != nil {
			return source{}, false, err
		}
		for _, e := range execs {
			if s := (source{kind: sourceUFS, addr: e.GetRpcAddress(), host: e.GetHost()}); usable(s) {
				return s, true, nil
			}
		}
	}
	return source{}, false, nil
}

// noteCached records, after a read to the end of block id from the UFS through an
// executor of this host that caches what it reads, that the executor now holds a copy, so
// that the reader's next reads of the block take the short-circuit path. Should the
// executor not have cached it after all, such a read finds it missing and fails over.
func (r *FileReader) noteCached(id uint64, src source) {
	if src.kind != sourceUFS || r.readType == ReadNoCache || !r.c.shortCircuitOK(src.host, src.addr) {
		return
	}
	r.bmu.Lock()
	defer r.bmu.Unlock()
	for i, b := range r.blocks {
		if b.GetBlock().GetBlockId() != id {
			continue
		}
		for _, loc := range b.GetLocations() {
			if loc.GetRpcAddress() == src.addr {
				return
			}
		}
		nb := proto.Clone(b).(*sluicepb.FileBlockInfo)
		nb.Locations = append([]*sluicepb.BlockLocation{{RpcAddress: src.addr, Host: src.host}}, nb.Locations...)
		r.blocks[i] = nb
		return
	}
}

// refresh asks the master for the file's blocks again.
func (r *FileReader) refresh() error {
	return r.refreshLocations(false)
}

// refreshAfterFailure fetches the block locations again after every source of a block
// failed; n counts the earlier such refreshes. The first one is immediate; later ones
// pause (100 ms doubling to 2 s) so that the master can notice the loss, then ask it to
// wait for the file's recompute, and forget which sources failed: a relaunched executor
// may serve the rebuilt block at the address that failed before.
func (r *FileReader) refreshAfterFailure(n int) error {
	if n == 0 {
		return r.refresh()
	}
	pause := min(100*time.Millisecond<<min(n-1, 5), 2*time.Second)
	t := time.NewTimer(pause)
	select {
	case <-r.ctx.Done():
		t.Stop()
		return r.ctx.Err()
	case <-t.C:
	}
	r.bmu.Lock()
	clear(r.bad)
	r.bmu.Unlock()
	return r.refreshLocations(true)
}

// refreshLocations replaces the reader's block locations by the master's current ones,
// waiting for a recompute of a LOST file when waitRecompute is set.
func (r *FileReader) refreshLocations(waitRecompute bool) error {
	resp, err := r.c.blockLocations(r.ctx, r.path, waitRecompute)
	if err != nil {
		return fmt.Errorf("read %s: refresh block locations: %w", r.path, err)
	}
	if resp.GetFile().GetFileId() != r.info.FileID {
		return fmt.Errorf("read %s: file replaced while reading: %w", r.path, ErrNotFound)
	}
	r.bmu.Lock()
	r.blocks = resp.GetBlocks()
	r.bmu.Unlock()
	return nil
}

// localBlock is a block file locked for short-circuit reads. Readers hold a reference
// while they read it; a block evicted from the reader's cache is closed when its last
// reference goes, so eviction never breaks a concurrent ReadAt.
type localBlock struct {
	c    *Client
	bs   sluicepb.BlockServiceClient
	addr string
	f    *os.File
	// mm holds the mapping of the block file (mapBlock) once it is made; reads copy from
	// it instead of calling pread. A file on huge pages is mapped when it is opened: its
	// mapping is cheap and copies out of it beat pread. A file on 4 KiB pages is mapped
	// lazily, only once the reader has read as many bytes as the block holds (a second
	// pass): building the page tables of a fresh mapping costs about what a pread of the
	// whole block does, so a single pass is fastest with pread, and re-reads with the
	// mapping.
	mm atomic.Pointer[[]byte]
	// preadBytes counts the bytes read with pread; mapMu serializes the lazy mapping;
	// noMap is set when mapping failed or is not wanted (pread only).
	preadBytes atomic.Int64
	mapMu      sync.Mutex
	noMap      atomic.Bool
	length     int64
	lockID     uint64
	// refs and evicted are guarded by the owning reader's bmu.
	refs    int
	evicted bool
}

func (lb *localBlock) close(ctx context.Context) error {
	var err error
	if m := lb.mm.Load(); m != nil {
		err = unmapBlock(*m)
	}
	if lb.f != nil {
		if cerr := lb.f.Close(); err == nil {
			err = cerr
		}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, cerr := lb.bs.CloseLocalBlock(cctx, &sluicepb.CloseLocalBlockRequest{LockId: lb.lockID}); cerr != nil {
		// The executor may be gone; its locks went with it.
		lb.c.log.Debug("close local block", "executor", lb.addr, "err", decodeError(cerr))
	}
	return err
}

// mapNow maps the block file unless it is mapped already or mapping failed before, and
// returns the mapping (nil: use pread).
func (lb *localBlock) mapNow(c *Client, id uint64) *[]byte {
	if lb.noMap.Load() {
		return nil
	}
	lb.mapMu.Lock()
	defer lb.mapMu.Unlock()
	if m := lb.mm.Load(); m != nil {
		return m
	}
	m, err := mapBlock(lb.f, lb.length)
	if err != nil || m == nil {
		// pread still works; only the faster copy is lost.
		if err != nil {
			c.log.Debug("short-circuit block not mapped", "block_id", id, "err", err)
		}
		lb.noMap.Store(true)
		return nil
	}
	lb.mm.Store(&m)
	return &m
}

// evictLocked removes lb from the cache and reports whether the caller must close it now
// (no reader holds it); r.bmu must be held.
func (r *FileReader) evictLocked(id uint64, lb *localBlock) bool {
	if r.local[id] == lb {
		delete(r.local, id)
	}
	lb.evicted = true
	return lb.refs == 0
}

// releaseLocal drops a reference taken by acquireLocal.
func (r *FileReader) releaseLocal(lb *localBlock) {
	r.bmu.Lock()
	lb.refs--
	closeNow := lb.evicted && lb.refs == 0
	r.bmu.Unlock()
	if closeNow {
		lb.close(r.ctx)
	}
}

// acquireLocal returns the open short-circuit block id on src with a reference the
// caller releases, locking and opening the block on first use. A block file this process
// cannot open disables short-circuit for the executor and returns a localFileError.
func (r *FileReader) acquireLocal(src source, id uint64) (*localBlock, error) {
	r.bmu.Lock()
	if lb, ok := r.local[id]; ok && lb.addr == src.addr {
		lb.refs++
		r.bmu.Unlock()
		return lb, nil
	}
	r.bmu.Unlock()
	bs, err := r.c.blockService(src.addr)
	if err != nil {
		return nil, err
	}
	cctx, cancel := r.c.rpcContext(r.ctx)
	resp, err := bs.OpenLocalBlock(cctx, &sluicepb.OpenLocalBlockRequest{
		BlockId: id, Promote: r.readType == ReadCachePromote, ClientId: r.c.clientID,
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("open local block %d on %s: %w", id, src.addr, decodeError(err))
	}
	lb := &localBlock{c: r.c, bs: bs, addr: src.addr, length: resp.GetLength(), lockID: resp.GetLockId(), refs: 1}
	if lb.f, err = os.Open(resp.GetPath()); err != nil {
		lb.close(r.ctx)
		r.c.disableShortCircuit(src.addr, err)
		return nil, &localFileError{fmt.Errorf("open block file of %d: %w", id, err)}
	}
	if onHugePages(lb.f) {
		lb.mapNow(r.c, id)
	}
	var closeNow []*localBlock
	r.bmu.Lock()
	if r.local == nil {
		// The reader was closed meanwhile: use the block once, then let it go.
		lb.evicted = true
		r.bmu.Unlock()
		return lb, nil
	}
	if cur, ok := r.local[id]; ok && cur.addr == src.addr {
		// A concurrent reader opened it first: keep theirs.
		cur.refs++
		r.bmu.Unlock()
		lb.close(r.ctx)
		return cur, nil
	}
	if old, ok := r.local[id]; ok && r.evictLocked(id, old) {
		closeNow = append(closeNow, old)
	}
	for k, v := range r.local {
		if len(r.local) < maxLocalBlocks {
			break
		}
		if r.evictLocked(k, v) {
			closeNow = append(closeNow, v)
		}
	}
	r.local[id] = lb
	r.bmu.Unlock()
	for _, old := range closeNow {
		old.close(r.ctx)
	}
	return lb, nil
}

// prefetchAfter takes, in the background, the short-circuit lock of the block after id
// when a local executor holds it, so that a sequential reader finds it open: the
// OpenLocalBlock round trip (and the mapping of a huge-page file) then overlaps the
// copy of the current block instead of stalling the reader at each block boundary. A
// failure is left for the read of that block to meet. Close waits for the request.
func (r *FileReader) prefetchAfter(id uint64) {
	r.bmu.Lock()
	var next uint64
	local := false
	for i, b := range r.blocks {
		if b.GetBlock().GetBlockId() == id && i+1 < len(r.blocks) {
			nb := r.blocks[i+1]
			next = nb.GetBlock().GetBlockId()
			for _, loc := range nb.GetLocations() {
				local = local || r.c.shortCircuitOK(loc.GetHost(), loc.GetRpcAddress())
			}
		}
	}
	_, open := r.local[next]
	if !local || open || r.prefetched[next] || r.local == nil {
		r.bmu.Unlock()
		return
	}
	if r.prefetched == nil {
		r.prefetched = make(map[uint64]bool)
	}
	r.prefetched[next] = true
	r.bmu.Unlock()
	src, ok, err := r.nextSource(next, nil)
	if err != nil || !ok || src.kind != sourceShortCircuit {
		return
	}
	r.prefetch.Go(func() {
		if lb, err := r.acquireLocal(src, next); err == nil {
			r.releaseLocal(lb)
		}
	})
}

// readLocal reads p at off of block id from its file: a copy out of the block's mapping,
// or a pread straight into p where the block is not mapped.
func (r *FileReader) readLocal(src source, id uint64, p []byte, off int64) (int64, error) {
	lb, err := r.acquireLocal(src, id)
	if err != nil {
		return 0, err
	}
	defer r.releaseLocal(lb)
	if off+int64(len(p)) > lb.length {
		return 0, fmt.Errorf("block %d is %d bytes, read to %d: %w", id, lb.length, off+int64(len(p)), ErrShortBlock)
	}
	m := lb.mm.Load()
	if m == nil && lb.preadBytes.Load() >= lb.length {
		m = lb.mapNow(r.c, id)
	}
	var n int
	if m != nil {
		n, err = copyMapped(p, (*m)[off:off+int64(len(p))])
	} else {
		n, err = lb.f.ReadAt(p, off)
		lb.preadBytes.Add(int64(n))
	}
	r.c.stats.readSC.Add(int64(n))
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("block file of %d ended at %d: %w", id, off+int64(n), ErrShortBlock)
	}
	return int64(n), err
}

// copyLocal writes n bytes at off of block id into w, through buf.
func (r *FileReader) copyLocal(src source, id uint64, off, n int64, w io.Writer, buf []byte) (int64, error) {
	var done int64
	for done < n {
		k := min(int64(len(buf)), n-done)
		got, err := r.readLocal(src, id, buf[:k], off+done)
		if got > 0 {
			wn, werr := w.Write(buf[:got])
			done += int64(wn)
			if werr != nil {
				return done, &sinkError{werr}
			}
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
