package client

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// castagnoli is the CRC32C table every block checksum uses.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cleanupTimeout bounds the calls that undo a failed write, which run even when the
// write's context is done.
const cleanupTimeout = 10 * time.Second

// CreateOptions tune Create.
type CreateOptions struct {
	// WriteType says where the bytes go; WriteDefault means Config.DefaultWriteType.
	WriteType WriteType
	// BlockSize in bytes; 0 means Config.DefaultBlockSize, then the master's default.
	BlockSize int64
	// Pinned keeps the blocks from eviction.
	Pinned bool
	// TTL is the time to live from creation; 0 means none.
	TTL time.Duration
	// TTLAction applies when the TTL expires; UNSPECIFIED means DELETE.
	TTLAction sluicepb.TtlAction
	// Mode holds the permission bits; 0 means the master's default (0644).
	Mode fs.FileMode
	// Recursive creates missing parent directories.
	Recursive bool
	// Overwrite replaces an existing COMPLETE file.
	Overwrite bool
	// Owner and Group of the file; empty means Config.User and Config.Group.
	Owner, Group string
	// JobID binds the file to a lineage job (claiming its placeholder).
	JobID string
	// SizeHint is the file's expected length in bytes, when known (0: unknown). Each block
	// then reserves on its executor only the bytes left to write, up to the block size,
	// rather than a whole block; a file may still end up shorter or longer. Reserving
	// less matters when a tier is nearly full of data not yet persisted, which executors
	// never evict: a write that cannot get space fails with ErrNoSpace.
	SizeHint int64
}

// Create creates the INCOMPLETE file path and returns a writer for its bytes. The file
// becomes visible as COMPLETE only when the writer's Close succeeds.
//
// The ctx governs the whole write, not only this call (like a net.Conn's deadline): when
// it is done, the next Write or Close fails and the file is aborted.
func (c *Client) Create(ctx context.Context, path string, opts CreateOptions) (*FileWriter, error) {
	wt := opts.WriteType
	if wt == WriteDefault {
		wt = c.cfg.DefaultWriteType
	}
	bs := opts.BlockSize
	if bs == 0 {
		bs = c.cfg.DefaultBlockSize
	}
	if bs < 0 {
		return nil, fmt.Errorf("create %s: negative block size %d: %w", path, bs, ErrInvalidArgument)
	}
	if opts.SizeHint < 0 {
		return nil, fmt.Errorf("create %s: negative size hint %d: %w", path, opts.SizeHint, ErrInvalidArgument)
	}
	owner, group := opts.Owner, opts.Group
	if owner == "" {
		owner = c.cfg.User
	}
	if group == "" {
		group = c.cfg.Group
	}
	req := &sluicepb.CreateFileRequest{
		Path:      path,
		WriteType: wt.proto(),
		BlockSize: bs,
		Pinned:    opts.Pinned,
		TtlMs:     opts.TTL.Milliseconds(),
		TtlAction: opts.TTLAction,
		Mode:      uint32(opts.Mode.Perm()),
		Owner:     owner,
		Group:     group,
		Recursive: opts.Recursive,
		Overwrite: opts.Overwrite,
		JobId:     opts.JobID,
	}
	var resp *sluicepb.CreateFileResponse
	err := c.fsMaster(ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.CreateFile(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	info := fileInfoFromProto(resp.GetFile())
	wctx, cancel := context.WithCancel(ctx)
	w := &FileWriter{
		c:         c,
		ctx:       wctx,
		cancel:    cancel,
		path:      path,
		info:      info,
		writeType: wt,
		pinned:    opts.Pinned,
		blockSize: info.BlockSize,
		sizeHint:  opts.SizeHint,
		jobOutput: opts.JobID != "",
	}
	if w.blockSize <= 0 {
		w.fail(fmt.Errorf("create %s: master returned block size %d: %w", path, w.blockSize, ErrInternal))
		return nil, w.err
	}
	if wt == WriteThrough {
		if resp.GetUfs() == nil {
			w.fail(fmt.Errorf("create %s: master returned no UFS target for a THROUGH write: %w", path, ErrInternal))
			return nil, w.err
		}
		if err := w.openUFS(resp.GetUfs(), opts, owner, group); err != nil {
			w.fail(err)
			return nil, err
		}
	}
	return w, nil
}

// FileWriter writes a new file's bytes: it splits them into blocks, sends each block to an
// executor (this host's through its file when short-circuit applies, others in chunks)
// and commits it, and on Close completes the file. A failed write aborts: the current
// block is discarded and the INCOMPLETE file deleted (a lineage job's output keeps its
// INCOMPLETE placeholder, so the master sees the job fail rather than lose its output),
// so a failure never leaves a COMPLETE file with missing data.
//
// A FileWriter is not safe for concurrent Writes, but Abort may be called from another
// goroutine while a Write runs.
type FileWriter struct {
	c   *Client
	ctx context.Context
	// cancel ends ctx, which every stream of the write uses.
	cancel    context.CancelFunc
	path      string
	info      FileInfo
	writeType WriteType
	pinned    bool
	blockSize int64
	// sizeHint is CreateOptions.SizeHint.
	sizeHint int64
	// jobOutput marks a lineage job's output: an abort keeps its INCOMPLETE placeholder,
	// which belongs to the job's lineage record, and only discards the current block.
	jobOutput bool

	// mu guards the fields below.
	mu sync.Mutex
	// cur is the block being written, nil between blocks.
	cur blockSink
	// curLen is the number of bytes written to cur.
	curLen int64
	// blocks are the committed blocks.
	blocks []*sluicepb.BlockInfo
	// length is the number of bytes accepted so far.
	length int64
	// ufs is the THROUGH stream.
	ufs ufsWriteStream
	// err is the sticky error of a failed or aborted write.
	err error
	// done is set once Close or Abort ran.
	done bool
	// result is the completed file's metadata.
	result FileInfo
}

// Info returns the file's metadata as created (INCOMPLETE); after a successful Close it
// returns the completed file's metadata.
func (w *FileWriter) Info() FileInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.result.FileID != 0 {
		return w.result
	}
	return w.info
}

// Write writes p to the file. On error the write is aborted and every later call fails.
func (w *FileWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, fmt.Errorf("write %s: %w", w.path, ErrClosed)
	}
	if err := w.ctx.Err(); err != nil {
		w.failLocked(err)
		return 0, err
	}
	if w.ufs != nil {
		n, err := w.ufs.Write(p)
		w.length += int64(n)
		w.c.stats.writeUFS.Add(int64(n))
		if err != nil {
			w.failLocked(fmt.Errorf("write %s to the UFS: %w", w.path, err))
			return n, w.err
		}
		return n, nil
	}
	written := 0
	for len(p) > 0 {
		if w.cur == nil {
			if err := w.openBlock(); err != nil {
				w.failLocked(err)
				return written, w.err
			}
		}
		k := int(min(int64(len(p)), w.blockSize-w.curLen))
		n, err := w.cur.write(p[:k])
		w.curLen += int64(n)
		w.length += int64(n)
		written += n
		p = p[n:]
		if err != nil {
			w.failLocked(fmt.Errorf("write %s block %d: %w", w.path, len(w.blocks), err))
			return written, w.err
		}
		if w.curLen == w.blockSize {
			if err := w.commitBlock(); err != nil {
				w.failLocked(err)
				return written, w.err
			}
		}
	}
	return written, nil
}

// Close commits the last block and completes the file; for CACHE_THROUGH it then waits
// until the file is persisted. On failure before completion the file is aborted (deleted)
// and the error returned; Close after Close or Abort returns the first outcome again.
func (w *FileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.err != nil {
		return w.err
	}
	w.done = true
	if err := w.ctx.Err(); err != nil {
		w.failLocked(err)
		return err
	}
	req := &sluicepb.CompleteFileRequest{Path: w.path, FileId: w.info.FileID, Length: w.length}
	if w.ufs != nil {
		resp, err := w.ufs.commit()
		w.ufs = nil
		if err != nil {
			w.failLocked(fmt.Errorf("close %s: finish UFS write: %w", w.path, err))
			return w.err
		}
		req.UfsWritten = true
		req.ContentCrc32C = proto.Uint32(resp.GetContentCrc32C())
	} else {
		if w.cur != nil {
			if err := w.commitBlock(); err != nil {
				w.failLocked(err)
				return w.err
			}
		}
		req.Blocks = w.blocks
		if crc, ok := contentCRC(w.blocks); ok {
			req.ContentCrc32C = proto.Uint32(crc)
		}
	}
	var resp *sluicepb.CompleteFileResponse
	err := w.c.fsMaster(w.ctx, callOpts{}, func(ctx context.Context, m sluicepb.FileSystemMasterClient) (err error) {
		resp, err = m.CompleteFile(ctx, req)
		return err
	})
	if err != nil {
		w.failLocked(fmt.Errorf("close %s: complete: %w", w.path, err))
		return w.err
	}
	w.result = fileInfoFromProto(resp.GetFile())
	defer w.cancel()
	if w.writeType == WriteCacheThrough {
		// The file is complete and cached; a failed persist leaves it readable, so it is
		// reported, not aborted.
		if _, err := w.c.Persist(w.ctx, w.path, PersistOptions{Wait: true}); err != nil {
			w.err = fmt.Errorf("close %s: cache-through persist: %w", w.path, err)
			return w.err
		}
		if st, err := w.c.Stat(w.ctx, w.path); err == nil {
			w.result = st
		}
	}
	return nil
}

// Abort discards the write: the current block is aborted and the INCOMPLETE file deleted.
// It returns nil if the file was cleaned up (or the writer had already failed), and is a
// no-op after a successful Close.
func (w *FileWriter) Abort() error {
	// Cancelling the streams' context first unblocks a Write stuck in a send, which holds
	// the lock.
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done && w.err == nil {
		return nil
	}
	if w.err != nil {
		return nil
	}
	w.done = true
	return w.failLocked(fmt.Errorf("write %s: %w", w.path, ErrWriteAborted))
}

// Cancel is Abort, for callers used to that name.
func (w *FileWriter) Cancel() error { return w.Abort() }

// fail records err and aborts the file; it is used outside the lock.
func (w *FileWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failLocked(err)
}

// failLocked records err as the writer's sticky error, discards the current block and
// deletes the INCOMPLETE file. It returns the cleanup's error, if any.
func (w *FileWriter) failLocked(err error) error {
	if w.err == nil {
		w.err = err
	}
	w.done = true
	cctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), cleanupTimeout)
	defer cancel()
	if w.cur != nil {
		w.cur.abort(cctx)
		w.cur = nil
	}
	if w.ufs != nil {
		w.ufs.abort()
		w.ufs = nil
	}
	var cerr error
	defer w.cancel()
	if w.info.FileID != 0 && !w.jobOutput {
		_, cerr = w.c.Delete(cctx, w.path, DeleteOptions{})
		if errors.Is(cerr, ErrNotFound) {
			cerr = nil
		}
		if cerr != nil {
			w.c.log.Warn("abort write: delete incomplete file", "path", w.path, "err", cerr)
		}
	}
	return cerr
}

// openUFS starts a THROUGH write on an executor, this host's first.
func (w *FileWriter) openUFS(target *sluicepb.UfsFile, opts CreateOptions, owner, group string) error {
	execs, err := w.c.liveExecutors(w.ctx, false)
	if err != nil {
		return fmt.Errorf("create %s: %w", w.path, err)
	}
	hdr := &sluicepb.WriteUfsFileHeader{
		Ufs: target, Mode: uint32(opts.Mode.Perm()), Owner: owner, Group: group, Overwrite: opts.Overwrite,
	}
	var last error = ErrNoExecutor
	for _, e := range execs {
		s, err := w.c.transport.writeUFS(w.ctx, e.GetRpcAddress(), hdr)
		if err != nil {
			last = err
			continue
		}
		w.ufs = s
		return nil
	}
	return fmt.Errorf("create %s: open UFS write: %w", w.path, last)
}

// openBlock starts the next block on the first executor that accepts it: this host's
// first (short-circuit when allowed), then the others in an order rotating with the block
// index.
func (w *FileWriter) openBlock() error {
	idx := uint32(len(w.blocks))
	id, err := sluicepb.MakeBlockID(w.info.FileID, idx)
	if err != nil {
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	execs, err := w.c.liveExecutors(w.ctx, false)
	if err != nil {
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	execs = spreadExecutors(execs, w.c, int(idx))
	reserve := w.reservation()
	var last error = ErrNoExecutor
	for round := 0; round < 2; round++ {
		// An executor without room (ErrNoSpace: its tier is full of data not yet
		// persisted) is skipped like one that is down: the next one may have room.
		for _, e := range execs {
			s, err := w.c.openSink(w.ctx, e, id, reserve, w.pinned, w.writeType)
			if err != nil {
				if isContextErr(err) {
					return err
				}
				last = err
				continue
			}
			w.cur, w.curLen = s, 0
			return nil
		}
		// Every executor refused: the list may be stale.
		if execs, err = w.c.liveExecutors(w.ctx, true); err != nil {
			return fmt.Errorf("write %s: %w", w.path, err)
		}
		execs = spreadExecutors(execs, w.c, int(idx))
	}
	if errors.Is(last, ErrNoSpace) && len(execs) > 0 {
		// No executor could reserve the block up front, which for a file of unknown
		// length is a whole block. Stream it to the first one instead: the executor
		// reserves as the bytes come, and the write fails with ErrNoSpace only if they
		// really do not fit.
		s, err := w.c.openStreamSink(w.ctx, execs[0].GetRpcAddress(), id, reserve, w.pinned, w.writeType)
		if err == nil {
			w.cur, w.curLen = s, 0
			return nil
		}
		last = err
	}
	return fmt.Errorf("write %s block %d: %w", w.path, idx, last)
}

// reservation is the space to reserve for the next block: the bytes left to write when
// the size hint says, up to the block size; the block size otherwise (also once the
// writer has gone past its hint).
func (w *FileWriter) reservation() int64 {
	if left := w.sizeHint - w.length; w.sizeHint > 0 && left > 0 {
		return min(left, w.blockSize)
	}
	return w.blockSize
}

// commitBlock seals the current block and records it.
func (w *FileWriter) commitBlock() error {
	info, err := w.cur.commit(w.ctx)
	w.cur = nil
	if err != nil {
		return fmt.Errorf("write %s: commit block %d: %w", w.path, len(w.blocks), err)
	}
	w.blocks = append(w.blocks, info)
	return nil
}

// spreadExecutors keeps this host's executors first and rotates the others by the block
// index, so that the blocks of a file written from outside the cluster spread over it.
func spreadExecutors(execs []*sluicepb.ExecutorInfo, c *Client, idx int) []*sluicepb.ExecutorInfo {
	var local, remote []*sluicepb.ExecutorInfo
	for _, e := range execs {
		if c.isLocal(e.GetHost(), e.GetRpcAddress()) {
			local = append(local, e)
		} else {
			remote = append(remote, e)
		}
	}
	if len(remote) > 1 {
		k := idx % len(remote)
		remote = append(remote[k:len(remote):len(remote)], remote[:k]...)
	}
	return append(local, remote...)
}

// contentCRC derives the whole file's CRC32C from its blocks' checksums; ok is false when
// a block has none.
func contentCRC(blocks []*sluicepb.BlockInfo) (crc uint32, ok bool) {
	for _, b := range blocks {
		if b.Crc32C == nil {
			return 0, false
		}
		crc = crc32cCombine(crc, b.GetCrc32C(), b.GetLength())
	}
	return crc, true
}
