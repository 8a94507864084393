package executor

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/ufs"
)

// persistTracker bounds and remembers the persist tasks under way.
type persistTracker struct {
	sem chan struct{}
	// mu guards files.
	mu    sync.Mutex
	files map[uint64]uint64 // file ID → attempt
}

func (p *persistTracker) init(n int) {
	p.sem = make(chan struct{}, n)
	p.files = make(map[uint64]uint64)
}

// running lists the files whose persist tasks are queued or running, for heartbeats.
func (p *persistTracker) running() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]uint64, 0, len(p.files))
	for id := range p.files {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// submitPersist queues a PERSIST_FILES task unless one for the same file is queued or
// running. At most Config.PersistConcurrency run at once, in tracked goroutines, so a
// persist never delays heartbeats.
func (e *Executor) submitPersist(ctx context.Context, pf *sluicepb.PersistFile) {
	e.persist.mu.Lock()
	if _, dup := e.persist.files[pf.GetFileId()]; dup {
		e.persist.mu.Unlock()
		return
	}
	e.persist.files[pf.GetFileId()] = pf.GetAttempt()
	e.persist.mu.Unlock()
	e.wg.Go(func() {
		defer func() {
			e.persist.mu.Lock()
			delete(e.persist.files, pf.GetFileId())
			e.persist.mu.Unlock()
		}()
		select {
		case e.persist.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-e.persist.sem }()
		start := time.Now()
		n, crc, err := e.persistFile(ctx, pf)
		dur := time.Since(start)
		e.metrics.persistDuration.Observe(dur.Seconds())
		rep := &sluicepb.ReportPersistedRequest{
			FileId: pf.GetFileId(), Attempt: pf.GetAttempt(), UfsUri: pf.GetUfs().GetUri(),
			Bytes: n, DurationMs: dur.Milliseconds(),
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Warn("persist file", "file_id", pf.GetFileId(), "path", pf.GetPath(), "err", err)
			e.metrics.persistFiles.WithLabelValues("failure").Inc()
			rep.Error, rep.Reason = err.Error(), reasonOf(err)
		} else {
			e.log.Info("persisted file", "file_id", pf.GetFileId(), "path", pf.GetPath(), "bytes", n, "duration", dur)
			e.metrics.persistFiles.WithLabelValues("success").Inc()
			e.metrics.persistBytes.Add(float64(n))
			rep.Success, rep.ContentCrc32C = true, &crc
		}
		if e.reportPersisted(ctx, rep) && rep.GetSuccess() {
			// The master took the report, but may have ignored it (a stale attempt): only
			// its guard answer says the file is PERSISTED, so ask for one now rather than
			// unguarding here.
			e.kickHeartbeat()
		}
	})
}

// reportPersisted sends a persist outcome, retrying with backoff while no master
// answers (a few times: a lost report makes the master hand the task out again). It
// reports whether the master took the report.
func (e *Executor) reportPersisted(ctx context.Context, rep *sluicepb.ReportPersistedRequest) bool {
	bo := backoff{min: min(50*time.Millisecond, e.cfg.HeartbeatInterval), max: e.cfg.MaxBackoff}
	for attempt := 0; attempt < 10; attempt++ {
		id, err := e.reg.wait(ctx)
		if err != nil {
			return false
		}
		rep.ExecutorId = id
		err = e.master.call(ctx, func(ctx context.Context, c sluicepb.ExecutorMasterClient) error {
			_, err := c.ReportPersisted(ctx, rep)
			return err
		})
		if err == nil {
			return true
		}
		if !isTransient(err) && !isNotRegistered(err) {
			e.log.Warn("master refused a persist report", "file_id", rep.GetFileId(), "err", err)
			return false
		}
		if !sleepCtx(ctx, bo.next()) {
			return false
		}
	}
	e.log.Warn("gave up reporting a persist", "file_id", rep.GetFileId())
	return false
}

// persistFile writes the file's blocks, in order, to the temporary UFS name of the
// command, renames it to the final name and returns the bytes written and their CRC32C.
// On failure the temporary file is deleted.
func (e *Executor) persistFile(ctx context.Context, pf *sluicepb.PersistFile) (int64, uint32, error) {
	if err := checkPersist(pf); err != nil {
		return 0, 0, err
	}
	fsys, final, err := e.ufs.open(ctx, pf.GetUfs())
	if err != nil {
		return 0, 0, err
	}
	target := final
	if t := pf.GetTempUfsUri(); t != "" {
		troot, tname, err := splitUFS(t)
		froot, _, _ := splitUFS(pf.GetUfs().GetUri())
		if err != nil {
			return 0, 0, err
		}
		if troot != froot {
			return 0, 0, invalidf("temporary UFS name %q is not in the FS of %q", t, pf.GetUfs().GetUri())
		}
		target = tname
	}
	uri := pf.GetUfs().GetUri()
	w, err := fsys.Create(ctx, target)
	if err != nil {
		return 0, 0, wrapUFS("create", uri, err)
	}
	n, crc, err := e.writeBlocks(ctx, w, pf)
	if err == nil && n != pf.GetLength() {
		err = fmt.Errorf("%s: wrote %d bytes, the file has %d: %w", pf.GetPath(), n, pf.GetLength(), ErrLengthMismatch)
	}
	if err != nil {
		w.Abort()
		return n, crc, err
	}
	if err := w.Close(); err != nil {
		return n, crc, wrapUFS("close", uri, err)
	}
	if target == final {
		return n, crc, nil
	}
	if err := e.renameInto(ctx, fsys, target, final); err != nil {
		if derr := fsys.Delete(context.WithoutCancel(ctx), target); derr != nil && !errors.Is(derr, fs.ErrNotExist) {
			e.log.Warn("delete temporary persist file", "uri", pf.GetTempUfsUri(), "err", derr)
		}
		return n, crc, wrapUFS("rename", uri, err)
	}
	return n, crc, nil
}

// renameInto renames src to dst, replacing a dst left by an earlier attempt whose report
// was lost (the master guards write-once semantics, not the UFS).
func (e *Executor) renameInto(ctx context.Context, fsys ufs.FS, src, dst string) error {
	err := fsys.Rename(ctx, src, dst)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	if derr := fsys.Delete(ctx, dst); derr != nil && !errors.Is(derr, fs.ErrNotExist) {
		return fmt.Errorf("replace %s: %w", dst, derr)
	}
	return fsys.Rename(ctx, src, dst)
}

// checkPersist validates a persist task: a UFS file, a writable mount, and blocks that
// tile the file.
func checkPersist(pf *sluicepb.PersistFile) error {
	if pf.GetUfs() == nil || pf.GetUfs().GetUri() == "" {
		return invalidf("persist file %d: no UFS file", pf.GetFileId())
	}
	if pf.GetUfs().GetReadOnly() {
		return fmt.Errorf("persist %s: %w", pf.GetUfs().GetUri(), ErrReadOnlyMount)
	}
	var off int64
	for i, b := range pf.GetBlocks() {
		if b.GetBlock() == nil || b.GetBlock().GetLength() < 0 {
			return invalidf("persist file %d: block %d has no length", pf.GetFileId(), i)
		}
		if b.GetOffset() != off {
			return invalidf("persist file %d: block %d at offset %d, want %d", pf.GetFileId(), i, b.GetOffset(), off)
		}
		off += b.GetBlock().GetLength()
	}
	if off != pf.GetLength() {
		return fmt.Errorf("persist file %d: blocks hold %d bytes, the file %d: %w", pf.GetFileId(), off, pf.GetLength(), ErrLengthMismatch)
	}
	return nil
}

// writeBlocks copies every block of pf to w, each verified against its length and
// CRC32C, and returns the bytes written and the CRC32C of the whole file.
func (e *Executor) writeBlocks(ctx context.Context, w io.Writer, pf *sluicepb.PersistFile) (int64, uint32, error) {
	fw := &crcWriter{w: w}
	for _, b := range pf.GetBlocks() {
		if err := e.copyBlock(ctx, fw, b); err != nil {
			return fw.n, fw.crc, fmt.Errorf("%s: block %d: %w", pf.GetPath(), b.GetBlock().GetBlockId(), err)
		}
	}
	return fw.n, fw.crc, nil
}

// crcWriter counts and checksums what passes to w.
type crcWriter struct {
	w   io.Writer
	n   int64
	crc uint32
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	c.n += int64(n)
	if err != nil {
		return n, wrapUFS("write", "", err)
	}
	return n, nil
}

// copyBlock writes one block to w: from the local store when it is here, else from the
// executors of its locations in turn (a location that fails before writing anything
// gives way to the next).
func (e *Executor) copyBlock(ctx context.Context, w *crcWriter, b *sluicepb.FileBlockInfo) error {
	id := b.GetBlock().GetBlockId()
	store, err := e.storeOrErr()
	if err != nil {
		return err
	}
	if r, err := store.OpenBlock(ctx, blocks.ID(id)); err == nil {
		defer r.Close()
		return e.copyLocal(w, r, b)
	} else if !errors.Is(err, blocks.ErrNotFound) {
		return err
	}
	err = fmt.Errorf("block %d has no copy to read: %w", id, blocks.ErrNotFound)
	for _, loc := range b.GetLocations() {
		if loc.GetExecutorId() == e.reg.id() || loc.GetRpcAddress() == "" || loc.GetRpcAddress() == e.advertise(e.Addr()) {
			continue
		}
		before := w.n
		err = e.copyRemote(ctx, w, b, loc.GetRpcAddress())
		if err == nil || w.n != before || ctx.Err() != nil {
			return err
		}
		e.log.Debug("read block for persist", "block_id", id, "from", loc.GetRpcAddress(), "err", err)
	}
	return err
}

// copyLocal copies a block of the store, whose chunks ReadAt verifies.
func (e *Executor) copyLocal(w *crcWriter, r *blocks.BlockReader, b *sluicepb.FileBlockInfo) error {
	if err := checkBlockMeta(b.GetBlock(), r.Size(), r.Checksum()); err != nil {
		return err
	}
	bp := e.bufs.Get(e.cfg.ChunkSize)
	defer e.bufs.Put(bp)
	buf := *bp
	for off := int64(0); off < r.Size(); {
		n := int(min(int64(len(buf)), r.Size()-off))
		if _, err := r.ReadAt(buf[:n], off); err != nil && !(errors.Is(err, io.EOF) && off+int64(n) == r.Size()) {
			return err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

// checkBlockMeta compares a held block with what the master recorded.
func checkBlockMeta(want *sluicepb.BlockInfo, size int64, crc uint32) error {
	if size != want.GetLength() {
		return fmt.Errorf("block %d holds %d bytes, want %d: %w", want.GetBlockId(), size, want.GetLength(), ErrLengthMismatch)
	}
	if want.Crc32C != nil && crc != want.GetCrc32C() {
		return fmt.Errorf("block %d has CRC32C %08x, want %08x: %w", want.GetBlockId(), crc, want.GetCrc32C(), blocks.ErrCorrupt)
	}
	return nil
}

// copyRemote streams a block from another executor's BlockService and checks its length
// and CRC32C.
func (e *Executor) copyRemote(ctx context.Context, w *crcWriter, b *sluicepb.FileBlockInfo, addr string) error {
	cc, err := e.peers.get(addr)
	if err != nil {
		return err
	}
	c := sluicepb.NewBlockServiceClient(cc)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	id := b.GetBlock().GetBlockId()
	stream, err := c.ReadBlock(sctx, &sluicepb.ReadBlockRequest{BlockId: id, ChunkSize: int64(e.cfg.ChunkSize), NoCache: true})
	if err != nil {
		return err
	}
	var crc uint32
	var n int64
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if m.GetOffset() != n {
			return fmt.Errorf("block %d from %s: chunk at %d, want %d: %w", id, addr, m.GetOffset(), n, ErrLengthMismatch)
		}
		if _, err := w.Write(m.GetData()); err != nil {
			return err
		}
		crc = crc32.Update(crc, castagnoli, m.GetData())
		n += int64(len(m.GetData()))
	}
	return checkBlockMeta(b.GetBlock(), n, crc)
}
