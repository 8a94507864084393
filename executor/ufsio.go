package executor

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/ufs"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ufsCache opens under file systems through the Registry and keeps them, one per URI
// scheme, authority (host, bucket) and mount options. A file URI such as
// s3://bucket/prefix/a.txt is split into the FS of its authority, s3://bucket/, and the
// path /prefix/a.txt within it: requests carry the file's full URI, not the mount's, so
// the executor roots each FS at the top of its authority. It is safe for concurrent use.
type ufsCache struct {
	reg ufs.Registry
	// mu guards fss.
	mu  sync.Mutex
	fss map[string]*ufsEntry
}

type ufsEntry struct {
	fsys ufs.FS
}

// splitUFS splits a file URI into the URI of the FS root and the path within it.
func splitUFS(uri string) (root, name string, err error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", invalidf("UFS URI %q: %v", uri, err)
	}
	if u.Scheme == "" || u.Opaque != "" {
		return "", "", invalidf("UFS URI %q: want scheme://authority/path", uri)
	}
	name, err = ufs.CleanPath(u.Path)
	if err != nil || name == "/" {
		return "", "", fmt.Errorf("UFS URI %q names no file: %w (%w)", uri, ufs.ErrInvalidPath, ErrInvalidArgument)
	}
	return u.Scheme + "://" + u.Host + "/", name, nil
}

// open returns the FS holding f and the path of f within it.
func (c *ufsCache) open(ctx context.Context, f *sluicepb.UfsFile) (ufs.FS, string, error) {
	if f == nil || f.GetUri() == "" {
		return nil, "", invalidf("no UFS file given")
	}
	root, name, err := splitUFS(f.GetUri())
	if err != nil {
		return nil, "", err
	}
	var key strings.Builder
	key.WriteString(root)
	for _, k := range slices.Sorted(maps.Keys(f.GetMountOptions())) {
		fmt.Fprintf(&key, "\x00%s=%s", k, f.GetMountOptions()[k])
	}
	c.mu.Lock()
	e, ok := c.fss[key.String()]
	c.mu.Unlock()
	if ok {
		return e.fsys, name, nil
	}
	fsys, err := c.reg.Open(ctx, root, f.GetMountOptions())
	if err != nil {
		return nil, "", wrapUFS("open", root, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.fss[key.String()]; ok {
		closeFS(fsys)
		return e.fsys, name, nil
	}
	c.fss[key.String()] = &ufsEntry{fsys: fsys}
	return fsys, name, nil
}

// close closes the cached FSes that can be closed.
func (c *ufsCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.fss {
		closeFS(e.fsys)
		delete(c.fss, k)
	}
}

func closeFS(fsys ufs.FS) {
	if c, ok := fsys.(io.Closer); ok {
		c.Close()
	}
}

// checkSource validates a UFS block source from a request.
func checkSource(src *sluicepb.UfsBlockSource) error {
	switch {
	case src == nil || src.GetFile() == nil:
		return invalidf("no UFS block source")
	case src.GetOffsetInFile() < 0 || src.GetLength() < 0:
		return invalidf("UFS block source at %d of %d bytes", src.GetOffsetInFile(), src.GetLength())
	case src.GetFileLength() > 0 && src.GetOffsetInFile()+src.GetLength() > src.GetFileLength():
		return invalidf("UFS block [%d, +%d) beyond the file's %d bytes", src.GetOffsetInFile(), src.GetLength(), src.GetFileLength())
	}
	return nil
}

// isTransient reports an error after which a master may still take the same call.
func isTransient(err error) bool {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// loadBlock copies block id from the UFS into the store and returns its meta, or the meta
// of the copy already held (already true). Concurrent loads of one block share one copy
// (singleflight) that runs detached from the callers' contexts until the executor stops;
// a caller whose ctx ends stops waiting. The master is told of the new block in the
// background; the caller may report it too (CommitBlock is idempotent).
func (e *Executor) loadBlock(ctx context.Context, id blocks.ID, src *sluicepb.UfsBlockSource, opts blocks.CreateOptions) (blocks.BlockMeta, bool, error) {
	type result struct {
		meta    blocks.BlockMeta
		already bool
	}
	// Each caller counts in e.wg until the shared load has finished, so that Run never
	// closes the store under it. Handlers run before Run waits, so the Add is safe.
	e.wg.Add(1)
	ch := e.loads.DoChan(strconv.FormatUint(uint64(id), 10), func() (any, error) {
		dctx, cancel := e.detached(ctx)
		defer cancel()
		store, err := e.storeOrErr()
		if err != nil {
			return nil, err
		}
		if m, err := store.Stat(id); err == nil {
			return result{meta: m, already: true}, nil
		}
		meta, err := e.copyFromUFS(dctx, store, id, src, opts)
		if err != nil {
			return nil, err
		}
		e.deltas.add(meta)
		e.wg.Go(func() {
			err := e.reportCommit(e.life, meta)
			if err != nil && !isTransient(err) {
				e.log.Warn("master refused a block cached from the UFS; removing it", "block_id", uint64(id), "err", err)
				e.removeAsync(id)
			}
		})
		return result{meta: meta}, nil
	})
	select {
	case <-ctx.Done():
		// The load goes on for the other callers (or until the executor stops); Run
		// waits for it through this caller's count.
		go func() {
			<-ch
			e.wg.Done()
		}()
		return blocks.BlockMeta{}, false, ctx.Err()
	case r := <-ch:
		e.wg.Done()
		if r.Err != nil {
			return blocks.BlockMeta{}, false, r.Err
		}
		res := r.Val.(result)
		return res.meta, res.already, nil
	}
}

// copyFromUFS reads a block's bytes from the UFS into a new block and commits it to the
// store; a UFS copy shorter than src.length fails with ErrLengthMismatch.
func (e *Executor) copyFromUFS(ctx context.Context, store *blocks.Store, id blocks.ID, src *sluicepb.UfsBlockSource, opts blocks.CreateOptions) (blocks.BlockMeta, error) {
	fsys, name, err := e.ufs.open(ctx, src.GetFile())
	if err != nil {
		return blocks.BlockMeta{}, err
	}
	uri := src.GetFile().GetUri()
	rc, err := fsys.Open(ctx, name, src.GetOffsetInFile(), src.GetLength())
	if err != nil {
		return blocks.BlockMeta{}, wrapUFS("open", uri, err)
	}
	defer rc.Close()
	tb, err := store.CreateTemp(ctx, id, src.GetLength(), opts)
	if err != nil {
		return blocks.BlockMeta{}, err
	}
	defer tb.Abort()
	bp := e.bufs.Get(e.cfg.ChunkSize)
	defer e.bufs.Put(bp)
	var n int64
	for n < src.GetLength() {
		k, rerr := io.ReadFull(rc, (*bp)[:min(int64(len(*bp)), src.GetLength()-n)])
		if k > 0 {
			if _, err := tb.Write((*bp)[:k]); err != nil {
				return blocks.BlockMeta{}, err
			}
			n += int64(k)
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return blocks.BlockMeta{}, fmt.Errorf("%s: block %v has %d of %d bytes in the UFS: %w", uri, id, n, src.GetLength(), ErrLengthMismatch)
			}
			return blocks.BlockMeta{}, wrapUFS("read", uri, rerr)
		}
	}
	meta, err := tb.Commit(ctx)
	if err != nil {
		return blocks.BlockMeta{}, err
	}
	e.metrics.writeBytes.WithLabelValues(pathUFS, string(meta.Tier)).Add(float64(meta.Size))
	return meta, nil
}

// readThrough serves a ReadBlock of a block this executor does not hold from its UFS
// copy. Unless no_cache, the whole block is loaded into the store first (one load for
// all concurrent readers) and served from there; when it cannot be cached (no space, a
// writer holds the ID, the master refused it) the range is streamed from the UFS
// directly. Either way the first chunk says from_ufs.
func (e *Executor) readThrough(ctx context.Context, stream sluicepb.BlockService_ReadBlockServer, req *sluicepb.ReadBlockRequest) error {
	src := req.GetUfs()
	if err := checkSource(src); err != nil {
		return err
	}
	id := blocks.ID(req.GetBlockId())
	cs := &chunkSender{stream: stream, first: true, length: src.GetLength(), fromUFS: true}
	defer func() { e.metrics.readBytes.WithLabelValues(pathUFS, "").Add(float64(cs.sent)) }()
	if !req.GetNoCache() {
		if _, err := readRange(src.GetLength(), req.GetOffset(), req.GetLength()); err != nil {
			return err
		}
		_, _, err := e.loadBlock(ctx, id, src, blocks.CreateOptions{})
		switch {
		case err == nil:
			store, serr := e.storeOrErr()
			if serr != nil {
				return serr
			}
			if r, oerr := store.OpenBlock(ctx, id); oerr == nil {
				defer r.Close()
				return e.sendRange(cs, r, r.Size(), req)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrUFS), errors.Is(err, ErrLengthMismatch), errors.Is(err, ErrInvalidArgument), errors.Is(err, ufs.ErrUnknownScheme):
			return err
		default:
			e.log.Debug("cannot cache block read from the UFS; streaming it", "block_id", uint64(id), "err", err)
		}
	}
	return e.streamUFS(ctx, cs, src, req)
}

// streamUFS sends a range of a block straight from the UFS.
func (e *Executor) streamUFS(ctx context.Context, cs *chunkSender, src *sluicepb.UfsBlockSource, req *sluicepb.ReadBlockRequest) error {
	end, err := readRange(src.GetLength(), req.GetOffset(), req.GetLength())
	if err != nil {
		return err
	}
	fsys, name, err := e.ufs.open(ctx, src.GetFile())
	if err != nil {
		return err
	}
	uri := src.GetFile().GetUri()
	rc, err := fsys.Open(ctx, name, src.GetOffsetInFile()+req.GetOffset(), end-req.GetOffset())
	if err != nil {
		return wrapUFS("open", uri, err)
	}
	defer rc.Close()
	return e.sendChunks(cs, req.GetOffset(), end, e.chunkFor(req.GetChunkSize()), func(buf []byte, pos int64) error {
		k, err := io.ReadFull(rc, buf)
		if k < len(buf) {
			if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%s: block %d ended at %d of %d bytes: %w", uri, req.GetBlockId(), pos+int64(k), end, ErrLengthMismatch)
			}
			return wrapUFS("read", uri, err)
		}
		return nil
	})
}

// CacheBlock loads a block from the UFS into this executor (for `fs load`) and commits
// it to the master. Concurrent calls and reads of the same block share one load.
func (e *Executor) CacheBlock(ctx context.Context, req *sluicepb.CacheBlockRequest) (*sluicepb.CacheBlockResponse, error) {
	id := req.GetBlockId()
	if err := checkBlockID(id); err != nil {
		return nil, toStatus(err, id)
	}
	if err := checkSource(req.GetSource()); err != nil {
		return nil, toStatus(err, id)
	}
	meta, already, err := e.loadBlock(ctx, blocks.ID(id), req.GetSource(), blocks.CreateOptions{
		Tier: blocks.TierAlias(req.GetTier()), Pinned: req.GetPinned(),
	})
	if err != nil {
		return nil, toStatus(err, id)
	}
	if meta.Size != req.GetSource().GetLength() {
		return nil, toStatus(fmt.Errorf("block %d holds %d bytes, the UFS source %d: %w", id, meta.Size, req.GetSource().GetLength(), ErrLengthMismatch), id)
	}
	if req.GetPinned() {
		if store, err := e.storeOrErr(); err == nil {
			e.guards.pinUser(store, meta.ID)
		}
	}
	if err := e.reportCommit(ctx, meta); err != nil {
		return nil, toStatus(err, id)
	}
	return &sluicepb.CacheBlockResponse{Length: meta.Size, Crc32C: meta.Checksum, Tier: string(meta.Tier), AlreadyCached: already}, nil
}

// WriteUfsFile streams a file to the UFS (THROUGH writes): a header, then chunks. The
// file appears atomically when the client half-closes (ufs.Writer.Close); any failure
// aborts it. Mode, owner and group are not applied: the ufs.FS contract has no way to
// set them.
func (e *Executor) WriteUfsFile(stream sluicepb.BlockService_WriteUfsFileServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = invalidf("WriteUfsFile stream without a header")
		}
		return toStatus(err, 0)
	}
	hdr := first.GetHeader()
	if hdr == nil || hdr.GetUfs() == nil {
		return toStatus(invalidf("the first WriteUfsFile message must be a header naming the UFS file"), 0)
	}
	uri := hdr.GetUfs().GetUri()
	if hdr.GetUfs().GetReadOnly() {
		return toStatus(fmt.Errorf("write %s: %w", uri, ErrReadOnlyMount), 0)
	}
	fsys, name, err := e.ufs.open(ctx, hdr.GetUfs())
	if err != nil {
		return toStatus(err, 0)
	}
	if !hdr.GetOverwrite() {
		_, err := fsys.Stat(ctx, name)
		if err == nil {
			return toStatus(fmt.Errorf("write %s: %w", uri, fs.ErrExist), 0)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return toStatus(wrapUFS("stat", uri, err), 0)
		}
	}
	w, err := fsys.Create(ctx, name)
	if err != nil {
		return toStatus(wrapUFS("create", uri, err), 0)
	}
	defer w.Abort()
	var n int64
	var crc uint32
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return toStatus(err, 0)
		}
		if m.GetHeader() != nil {
			return toStatus(invalidf("a second header in a WriteUfsFile stream"), 0)
		}
		if _, err := w.Write(m.GetChunk()); err != nil {
			return toStatus(wrapUFS("write", uri, err), 0)
		}
		crc = crc32.Update(crc, castagnoli, m.GetChunk())
		n += int64(len(m.GetChunk()))
	}
	if err := w.Close(); err != nil {
		return toStatus(wrapUFS("close", uri, err), 0)
	}
	e.metrics.writeBytes.WithLabelValues(pathUFS, "").Add(float64(n))
	return stream.SendAndClose(&sluicepb.WriteUfsFileResponse{UfsUri: uri, Length: n, ContentCrc32C: crc})
}
