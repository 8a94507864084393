package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// OpenOptions tune Open.
type OpenOptions struct {
	// ReadType says what reads do with blocks fetched from the UFS; ReadDefault means
	// Config.DefaultReadType.
	ReadType ReadType
}

// Open opens the COMPLETE file path for reading. A directory fails with ErrIsADirectory,
// an INCOMPLETE file with ErrFileIncomplete. A LOST file makes Open wait (up to
// Config.RecomputeWait) for the master to recompute it, then fail with ErrFileLost; the
// error's JobID names the producing job when there is one.
//
// The ctx governs every later read of the returned reader, not only this call: once it
// is done, reads fail with its error.
func (c *Client) Open(ctx context.Context, path string, opts OpenOptions) (*FileReader, error) {
	rt := opts.ReadType
	if rt == ReadDefault {
		rt = c.cfg.DefaultReadType
	}
	resp, err := c.blockLocations(ctx, path, false)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	fi := fileInfoFromProto(resp.GetFile())
	switch {
	case fi.IsDir:
		return nil, fmt.Errorf("open %s: %w", path, ErrIsADirectory)
	case fi.Persistence == sluicepb.PersistenceState_PERSISTENCE_STATE_LOST:
		// A LOST file may be an incomplete placeholder while its job is recomputed.
		if resp, err = c.blockLocations(ctx, path, true); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		fi = fileInfoFromProto(resp.GetFile())
	case !fi.Complete:
		return nil, fmt.Errorf("open %s: %w", path, ErrFileIncomplete)
	}
	return &FileReader{
		c:        c,
		ctx:      ctx,
		path:     path,
		info:     fi,
		readType: rt,
		blocks:   resp.GetBlocks(),
		bad:      make(map[sourceKey]bool),
		local:    make(map[uint64]*localBlock),
	}, nil
}

var (
	_ io.ReadSeekCloser = (*FileReader)(nil)
	_ io.ReaderAt       = (*FileReader)(nil)
	_ io.WriterTo       = (*FileReader)(nil)
	_ io.WriteCloser    = (*FileWriter)(nil)
)

// FileReader reads a file's bytes from executors: short-circuit through the block files of
// executors on this host, streamed from other executors, or through an executor from the
// UFS copy. When a source fails mid-read it resumes from the same offset on the next copy,
// another executor or the UFS.
//
// ReadAt may be called concurrently with itself and with Read, Seek and WriteTo; Read,
// Seek and WriteTo share the file offset and must not be called concurrently with each
// other. Close releases the block locks; it must not race with reads.
type FileReader struct {
	c        *Client
	ctx      context.Context
	path     string
	info     FileInfo
	readType ReadType

	// bmu guards blocks, bad and local.
	bmu sync.Mutex
	// blocks are the file's blocks with their copies, refreshed after failures.
	blocks []*sluicepb.FileBlockInfo
	// bad marks sources (kind+address) that failed for this reader, and addresses of
	// executors found unreachable.
	bad map[sourceKey]bool
	// local are the open short-circuit blocks by block ID; nil once the reader is closed.
	local map[uint64]*localBlock
	// prefetched marks the blocks whose short-circuit lock a sequential Read asked for
	// ahead (see prefetchAfter); prefetch counts those requests in flight.
	prefetched map[uint64]bool
	prefetch   sync.WaitGroup

	// mu guards pos, seq and closed.
	mu sync.Mutex
	// pos is the offset of Read and WriteTo.
	pos int64
	// seq is the stream kept open between sequential Reads of one remote block.
	seq *seqStream
	// copyBuf is WriteTo's buffer for short-circuit blocks, allocated on first use.
	copyBuf []byte
	closed  bool
}

// seqStream is an open remote stream positioned at offset off of block id.
type seqStream struct {
	id  uint64
	off int64
	key sourceKey
	s   blockReadStream
}

// Info returns the file's metadata as of Open.
func (r *FileReader) Info() FileInfo { return r.info }

// Size returns the file's length.
func (r *FileReader) Size() int64 { return r.info.Length }

// Read reads up to len(p) bytes at the current offset (at most up to the end of the
// current block) and advances the offset. It returns io.EOF at the end of the file.
func (r *FileReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("read %s: %w", r.path, ErrClosed)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.pos >= r.info.Length {
		return 0, io.EOF
	}
	b, err := r.blockAt(r.pos)
	if err != nil {
		return 0, err
	}
	blockOff := r.pos - b.GetOffset()
	n := int(min(int64(len(p)), b.GetBlock().GetLength()-blockOff))
	got, err := r.readBlock(b.GetBlock().GetBlockId(), p[:n], blockOff, true)
	r.pos += int64(got)
	return got, err
}

// ReadAt reads len(p) bytes at offset off into p, straight from the block files on this
// host when short-circuit applies. It returns io.EOF when the file ends before p is full.
// It does not use or change the offset of Read.
func (r *FileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s at %d: negative offset: %w", r.path, off, ErrInvalidArgument)
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if pos >= r.info.Length {
			return done, io.EOF
		}
		b, err := r.blockAt(pos)
		if err != nil {
			return done, err
		}
		blockOff := pos - b.GetOffset()
		n := int(min(int64(len(p)-done), b.GetBlock().GetLength()-blockOff))
		got, err := r.readBlock(b.GetBlock().GetBlockId(), p[done:done+n], blockOff, false)
		done += got
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// Seek sets the offset of the next Read or WriteTo, as io.Seeker. Seeking past the end
// is allowed (reads there return io.EOF); a negative offset fails.
func (r *FileReader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.info.Length + offset
	default:
		return r.pos, fmt.Errorf("seek %s: whence %d: %w", r.path, whence, ErrInvalidArgument)
	}
	if abs < 0 {
		return r.pos, fmt.Errorf("seek %s to %d: negative offset: %w", r.path, abs, ErrInvalidArgument)
	}
	r.pos = abs
	return abs, nil
}

// WriteTo writes the file from the current offset to its end into w, as io.WriterTo (so
// io.Copy uses it): short-circuit blocks are read in large preads, remote chunks are handed
// to w as they arrive. An error of w ends the copy; a source failure resumes elsewhere.
func (r *FileReader) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("read %s: %w", r.path, ErrClosed)
	}
	r.closeSeq()
	var total int64
	for r.pos < r.info.Length {
		b, err := r.blockAt(r.pos)
		if err != nil {
			return total, err
		}
		blockOff := r.pos - b.GetOffset()
		want := b.GetBlock().GetLength() - blockOff
		n, err := r.tryBlock(b.GetBlock().GetBlockId(), want, true, func(src source, done int64) (int64, error) {
			if src.kind == sourceShortCircuit {
				if r.copyBuf == nil {
					r.copyBuf = make([]byte, min(4<<20, r.info.Length))
				}
				return r.copyLocal(src, b.GetBlock().GetBlockId(), blockOff+done, want-done, w, r.copyBuf)
			}
			s, err := r.openStream(src, b, blockOff+done, want-done)
			if err != nil {
				return 0, err
			}
			defer s.Close()
			n, err := s.WriteTo(w)
			r.countRemote(s, n)
			if err == nil && n < want-done {
				err = fmt.Errorf("block %d on %s ended at %d of %d bytes: %w", b.GetBlock().GetBlockId(), src.addr, blockOff+done+n, blockOff+want, ErrShortBlock)
			}
			return n, err
		})
		total += n
		r.pos += n
		if err != nil {
			var se *sinkError
			if errors.As(err, &se) {
				return total, se.err
			}
			return total, err
		}
	}
	return total, nil
}

// Close releases the short-circuit locks and open streams. Reads after Close fail with
// ErrClosed.
func (r *FileReader) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.closeSeq()
	r.mu.Unlock()
	r.prefetch.Wait()
	r.bmu.Lock()
	var closeNow []*localBlock
	for id, lb := range r.local {
		if r.evictLocked(id, lb) {
			closeNow = append(closeNow, lb)
		}
	}
	r.local = nil
	r.bmu.Unlock()
	var errs []error
	for _, lb := range closeNow {
		if err := lb.close(r.ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *FileReader) closeSeq() {
	if r.seq != nil {
		r.seq.s.Close()
		r.seq = nil
	}
}

// blockAt returns the block holding byte off of the file.
func (r *FileReader) blockAt(off int64) (*sluicepb.FileBlockInfo, error) {
	r.bmu.Lock()
	defer r.bmu.Unlock()
	i := sort.Search(len(r.blocks), func(i int) bool {
		b := r.blocks[i]
		return b.GetOffset()+b.GetBlock().GetLength() > off
	})
	if i < len(r.blocks) && r.blocks[i].GetOffset() <= off {
		return r.blocks[i], nil
	}
	// The block list may lack blocks while a recompute rebuilds the file (the master
	// reset it and the rerun has not committed them yet): the block is the one the
	// file's block size puts there, without a copy for now (tryBlock waits for one).
	if bs := r.info.BlockSize; bs > 0 && off < r.info.Length {
		idx := off / bs
		if id, err := sluicepb.MakeBlockID(r.info.FileID, uint32(idx)); err == nil && idx <= math.MaxUint32 {
			return &sluicepb.FileBlockInfo{
				Block:  &sluicepb.BlockInfo{BlockId: id, Length: min(bs, r.info.Length-idx*bs)},
				Offset: idx * bs,
			}, nil
		}
	}
	return nil, fmt.Errorf("read %s at %d: no block covers the offset: %w", r.path, off, ErrInternal)
}

// block returns the current information about block id.
func (r *FileReader) block(id uint64) *sluicepb.FileBlockInfo {
	r.bmu.Lock()
	defer r.bmu.Unlock()
	for _, b := range r.blocks {
		if b.GetBlock().GetBlockId() == id {
			return b
		}
	}
	return nil
}

// readBlock fills p with block id's bytes from offset off; seq keeps a remote stream open
// for the next sequential Read.
func (r *FileReader) readBlock(id uint64, p []byte, off int64, seq bool) (int, error) {
	b := r.block(id)
	endsBlock := b != nil && off+int64(len(p)) == b.GetBlock().GetLength()
	n, err := r.tryBlock(id, int64(len(p)), endsBlock, func(src source, done int64) (int64, error) {
		dst := p[done:]
		if src.kind == sourceShortCircuit {
			if seq {
				r.prefetchAfter(id)
			}
			return r.readLocal(src, id, dst, off+done)
		}
		if seq {
			return r.readSeq(src, id, dst, off+done)
		}
		s, err := r.openStream(src, r.block(id), off+done, int64(len(dst)))
		if err != nil {
			return 0, err
		}
		defer s.Close()
		k, err := io.ReadFull(s, dst)
		r.countRemote(s, int64(k))
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("block %d on %s ended early: %w", id, src.addr, ErrShortBlock)
		}
		return int64(k), err
	})
	return int(n), err
}

// readSeq reads from the kept sequential stream, opening it (to the block's end) when it
// is not positioned at off of block id on src.
func (r *FileReader) readSeq(src source, id uint64, p []byte, off int64) (int64, error) {
	if r.seq == nil || r.seq.id != id || r.seq.off != off || r.seq.key != src.key() {
		r.closeSeq()
		s, err := r.openStream(src, r.block(id), off, 0)
		if err != nil {
			return 0, err
		}
		r.seq = &seqStream{id: id, off: off, key: src.key(), s: s}
	}
	k, err := io.ReadFull(r.seq.s, p)
	r.countRemote(r.seq.s, int64(k))
	r.seq.off += int64(k)
	if err != nil {
		r.closeSeq()
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("block %d on %s ended early: %w", id, src.addr, ErrShortBlock)
		}
	}
	return int64(k), err
}

// openStream opens a transport read of length bytes (0: to the block's end) at off of
// block b from src (a remote copy, or an executor reading the UFS).
func (r *FileReader) openStream(src source, b *sluicepb.FileBlockInfo, off, length int64) (blockReadStream, error) {
	req := &sluicepb.ReadBlockRequest{
		BlockId: b.GetBlock().GetBlockId(),
		Offset:  off,
		Length:  length,
		Promote: r.readType == ReadCachePromote,
		NoCache: r.readType == ReadNoCache,
	}
	if src.kind == sourceUFS {
		req.Ufs = b.GetUfs()
	}
	return r.c.transport.read(r.ctx, src.addr, req)
}

func (r *FileReader) countRemote(s blockReadStream, n int64) {
	if s.fromUFS() {
		r.c.stats.readUFS.Add(n)
	} else {
		r.c.stats.readRemote.Add(n)
	}
}
