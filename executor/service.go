package executor

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

var _ sluicepb.BlockServiceServer = (*Executor)(nil)

// checkBlockID validates a block ID from a request.
func checkBlockID(id uint64) error {
	if err := sluicepb.CheckBlockID(sluicepb.BlockFileID(id), sluicepb.BlockIndex(id)); err != nil {
		return invalidf("block %d: %v", id, err)
	}
	return nil
}

// storeFor validates a block ID and a request's other fields (invalid, when not nil)
// and returns the block store.
func (e *Executor) storeFor(id uint64, invalid error) (*blocks.Store, error) {
	if err := checkBlockID(id); err != nil {
		return nil, err
	}
	if invalid != nil {
		return nil, invalid
	}
	return e.storeOrErr()
}

// chunkFor returns the chunk size to serve a request asking for want bytes per chunk.
func (e *Executor) chunkFor(want int64) int {
	if want <= 0 {
		return e.cfg.ChunkSize
	}
	return int(min(want, MaxChunkSize, int64(e.cfg.MaxMessageSize-chunkOverhead)))
}

// readRange checks offset and length against a block of size bytes and returns the end
// of the range.
func readRange(size, off, length int64) (int64, error) {
	switch {
	case off < 0 || length < 0:
		return 0, invalidf("negative offset %d or length %d", off, length)
	case off > size:
		return 0, invalidf("offset %d beyond the block's %d bytes", off, size)
	case length == 0:
		return size, nil
	case length > size-off:
		return 0, invalidf("range [%d, %d+%d) beyond the block's %d bytes", off, off, length, size)
	}
	return off + length, nil
}

// chunkSender sends the bytes of a range in ReadBlockChunk messages. It reuses one
// message (grpc-go serializes a message before Send returns and the server installs no
// stats handler that could keep it). Buffers of the chunk pool are handed over to gRPC
// with each Send (see chunkCodec); buffers of other sizes are reused.
type chunkSender struct {
	stream  sluicepb.BlockService_ReadBlockServer
	msg     sluicepb.ReadBlockChunk
	first   bool
	sent    int64
	length  int64
	fromUFS bool
	tier    string
}

func (c *chunkSender) send(off int64, data []byte) error {
	c.msg.Offset, c.msg.Data = off, data
	if c.first {
		c.msg.BlockLength, c.msg.FromUfs, c.msg.Tier = c.length, c.fromUFS, c.tier
	} else {
		c.msg.BlockLength, c.msg.FromUfs, c.msg.Tier = 0, false, ""
	}
	c.first = false
	if err := c.stream.Send(&c.msg); err != nil {
		return err
	}
	c.sent += int64(len(data))
	return nil
}

// ReadBlock streams a range of a block from a tier or, when the block is not here and
// the request names a UFS source, from the UFS (caching it unless no_cache).
func (e *Executor) ReadBlock(req *sluicepb.ReadBlockRequest, stream sluicepb.BlockService_ReadBlockServer) error {
	id := req.GetBlockId()
	var invalid error
	if req.GetOffset() < 0 || req.GetLength() < 0 || req.GetChunkSize() < 0 {
		invalid = invalidf("negative offset %d, length %d or chunk size %d", req.GetOffset(), req.GetLength(), req.GetChunkSize())
	}
	store, err := e.storeFor(id, invalid)
	if err != nil {
		return toStatus(err, id)
	}
	ctx := stream.Context()
	if req.GetPromote() {
		e.promote(ctx, store, blocks.ID(id))
	}
	r, err := store.OpenBlock(ctx, blocks.ID(id))
	if err == nil {
		defer r.Close()
		e.metrics.cacheHits.Inc()
		cs := &chunkSender{stream: stream, first: true, length: r.Size(), tier: string(r.Tier())}
		err = e.sendRange(cs, r, r.Size(), req)
		e.metrics.readBytes.WithLabelValues(pathRemote, string(r.Tier())).Add(float64(cs.sent))
		return toStatus(err, id)
	}
	if !errors.Is(err, blocks.ErrNotFound) {
		return toStatus(err, id)
	}
	e.metrics.cacheMisses.Inc()
	if req.GetUfs() == nil {
		return toStatus(err, id)
	}
	return toStatus(e.readThrough(ctx, stream, req), id)
}

// sendRange sends the requested range of src, a block of size bytes, in chunks.
func (e *Executor) sendRange(cs *chunkSender, src io.ReaderAt, size int64, req *sluicepb.ReadBlockRequest) error {
	end, err := readRange(size, req.GetOffset(), req.GetLength())
	if err != nil {
		return err
	}
	return e.sendChunks(cs, req.GetOffset(), end, e.chunkFor(req.GetChunkSize()), func(buf []byte, pos int64) error {
		k, err := src.ReadAt(buf, pos)
		if k < len(buf) {
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("block ended at %d of %d bytes: %w", pos+int64(k), end, ErrLengthMismatch)
			}
			return err
		}
		return nil
	})
}

// sendChunks sends [start, end) in chunks of chunk bytes that fill writes; at least one
// chunk is sent, even for an empty range.
func (e *Executor) sendChunks(cs *chunkSender, start, end int64, chunk int, fill func(buf []byte, pos int64) error) error {
	handOver := chunk == e.bufs.size
	var own []byte
	if !handOver {
		own = make([]byte, min(int64(chunk), max(end-start, 1)))
	}
	for pos := start; cs.first || pos < end; {
		n := int(min(int64(chunk), end-pos))
		var buf []byte
		if handOver {
			buf = (*e.bufs.Get(chunk))[:n]
		} else {
			buf = own[:n]
		}
		if err := fill(buf, pos); err != nil {
			if handOver {
				e.bufs.Put(&buf)
			}
			return err
		}
		if err := cs.send(pos, buf); err != nil {
			return err
		}
		pos += int64(n)
	}
	return nil
}

// promote moves a block to the top tier for a CACHE_PROMOTE read; failures only cost
// speed, so they are logged.
func (e *Executor) promote(ctx context.Context, store *blocks.Store, id blocks.ID) {
	us := store.Usage()
	if len(us) == 0 {
		return
	}
	m, err := store.Stat(id)
	if err != nil || m.Tier == us[0].Alias {
		return
	}
	if err := store.Move(ctx, id, us[0].Alias); err != nil {
		e.log.Debug("promote block", "block_id", uint64(id), "err", err)
		return
	}
	if m, err := store.Stat(id); err == nil {
		e.deltas.add(m)
	}
}

// WriteBlock receives a block: a header, then chunks; the client's half-close commits
// it to the store and to the master. Any failure aborts the block, leaving nothing.
func (e *Executor) WriteBlock(stream sluicepb.BlockService_WriteBlockServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = invalidf("WriteBlock stream without a header")
		}
		return toStatus(err, 0)
	}
	hdr := first.GetHeader()
	if hdr == nil {
		return toStatus(invalidf("the first WriteBlock message must be a header"), 0)
	}
	id := hdr.GetBlockId()
	var invalid error
	if hdr.GetSizeHint() < 0 {
		invalid = invalidf("negative size hint %d", hdr.GetSizeHint())
	}
	store, err := e.storeFor(id, invalid)
	if err != nil {
		return toStatus(err, id)
	}
	// New data is guarded (pinned) from the start: see guard.go.
	opts := blocks.CreateOptions{
		Tier:      blocks.TierAlias(hdr.GetTier()),
		Pinned:    true,
		Protected: hdr.GetWriteType() == sluicepb.WriteType_WRITE_TYPE_MUST_CACHE,
	}
	tb, err := store.CreateTemp(ctx, blocks.ID(id), hdr.GetSizeHint(), opts)
	if errors.Is(err, blocks.ErrNoSpace) && hdr.GetSizeHint() > 0 && fitsTier(store, opts.Tier, hdr.GetSizeHint()) {
		// The hint is often the whole block size of a file of unknown length: start with
		// no reservation, Write reserves as the chunks come. A hint beyond the capacity
		// of every tier fails at once.
		tb, err = store.CreateTemp(ctx, blocks.ID(id), 0, opts)
	}
	if err != nil {
		return toStatus(noSpace(err), id)
	}
	defer tb.Abort()
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return toStatus(err, id)
		}
		if m.GetHeader() != nil {
			return toStatus(invalidf("a second header in a WriteBlock stream"), id)
		}
		if _, err := tb.Write(m.GetChunk()); err != nil {
			return toStatus(noSpace(err), id)
		}
	}
	meta, err := tb.Commit(ctx)
	if err != nil {
		return toStatus(noSpace(err), id)
	}
	e.guards.guard(meta.ID, hdr.GetPinned())
	if err := e.commitBlock(ctx, store, meta); err != nil {
		return toStatus(err, id)
	}
	e.metrics.writeBytes.WithLabelValues(pathRemote, string(meta.Tier)).Add(float64(meta.Size))
	return stream.SendAndClose(&sluicepb.WriteBlockResponse{BlockId: id, Length: meta.Size, Crc32C: meta.Checksum, Tier: string(meta.Tier)})
}

// commitBlock reports a block just committed to the store to the master, waiting (up to
// ctx and the RPC timeout) for the executor to be registered. If the master does not
// take it, the block is removed again and the master's error returned, so that a failed
// write leaves nothing behind.
func (e *Executor) commitBlock(ctx context.Context, store *blocks.Store, meta blocks.BlockMeta) error {
	err := e.reportCommit(ctx, meta)
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.RPCTimeout)
		defer cancel()
		if rerr := store.Remove(rctx, meta.ID); rerr != nil && !errors.Is(rerr, blocks.ErrNotFound) {
			e.log.Warn("remove block the master refused", "block_id", uint64(meta.ID), "err", rerr)
		}
		e.blockGone(meta.ID)
		return err
	}
	return nil
}

// reportCommit calls ExecutorMaster.CommitBlock for meta and records the block for the
// next heartbeat. It registers again and retries once when the master does not know this
// executor.
func (e *Executor) reportCommit(ctx context.Context, meta blocks.BlockMeta) error {
	e.deltas.add(meta)
	for attempt := 0; ; attempt++ {
		wctx, cancel := context.WithTimeout(ctx, e.cfg.RPCTimeout)
		execID, err := e.reg.wait(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("commit block %v: no master admitted this executor: %w", meta.ID, ErrUnavailable)
		}
		err = e.master.call(ctx, func(ctx context.Context, c sluicepb.ExecutorMasterClient) error {
			_, err := c.CommitBlock(ctx, &sluicepb.CommitBlockRequest{
				ExecutorId: execID, BlockId: uint64(meta.ID), Length: meta.Size, Tier: string(meta.Tier), Crc32C: meta.Checksum,
			})
			return err
		})
		if err != nil && isNotRegistered(err) && attempt == 0 {
			e.reg.unset()
			continue
		}
		if err != nil && status.Code(err) == codes.Unknown {
			err = fmt.Errorf("commit block %v: %w", meta.ID, err)
		}
		return err
	}
}

// RemoveBlock deletes a block, waiting for its readers to release it (up to the call's
// deadline).
func (e *Executor) RemoveBlock(ctx context.Context, req *sluicepb.RemoveBlockRequest) (*sluicepb.RemoveBlockResponse, error) {
	id := req.GetBlockId()
	store, err := e.storeFor(id, nil)
	if err != nil {
		return nil, toStatus(err, id)
	}
	if err := store.Remove(ctx, blocks.ID(id)); err != nil {
		return nil, toStatus(err, id)
	}
	e.blockGone(blocks.ID(id))
	return &sluicepb.RemoveBlockResponse{}, nil
}
