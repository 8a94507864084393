package client

import (
	"bufio"
	"context"
	"fmt"
	"hash/crc32"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// blockSink receives the bytes of one new block. write never writes more than the block
// may hold (the FileWriter splits); commit seals the block and returns its BlockInfo;
// abort discards it. After commit or abort the sink is unusable.
type blockSink interface {
	write(p []byte) (int, error)
	commit(ctx context.Context) (*sluicepb.BlockInfo, error)
	abort(ctx context.Context)
}

// openSink opens block id on executor e, reserving reserve bytes there: through a local
// file when short-circuit applies, else through the transport. A local file that cannot
// be opened disables short-circuit for that executor and falls back to the transport.
func (c *Client) openSink(ctx context.Context, e *sluicepb.ExecutorInfo, id uint64, reserve int64, pinned bool, wt WriteType) (blockSink, error) {
	addr := e.GetRpcAddress()
	if c.shortCircuitOK(e.GetHost(), addr) {
		s, err := c.openLocalSink(ctx, addr, id, reserve, pinned, wt)
		if err == nil || !isLocalFileErr(err) {
			return s, err
		}
		c.disableShortCircuit(addr, err)
	}
	return c.openStreamSink(ctx, addr, id, reserve, pinned, wt)
}

// openStreamSink opens block id on the executor at addr through the transport. The
// executor reserves reserve bytes or, when it cannot but the block would fit its tier,
// reserves as the bytes come; a lack of room then shows in a later write or the commit.
func (c *Client) openStreamSink(ctx context.Context, addr string, id uint64, reserve int64, pinned bool, wt WriteType) (blockSink, error) {
	ws, err := c.transport.write(ctx, addr, &sluicepb.WriteBlockHeader{
		BlockId: id, SizeHint: reserve, Pinned: pinned, WriteType: wt.proto(),
	})
	if err != nil {
		return nil, fmt.Errorf("open block %d on %s: %w", id, addr, err)
	}
	return &remoteSink{c: c, id: id, ws: ws}, nil
}

// localFileError marks a failure to use a block file the executor named, which means the
// executor's files are not reachable from this process.
type localFileError struct{ err error }

func (e *localFileError) Error() string { return e.err.Error() }
func (e *localFileError) Unwrap() error { return e.err }

func isLocalFileErr(err error) bool {
	_, ok := err.(*localFileError)
	return ok
}

func (c *Client) openLocalSink(ctx context.Context, addr string, id uint64, reserve int64, pinned bool, wt WriteType) (blockSink, error) {
	bs, err := c.blockService(addr)
	if err != nil {
		return nil, err
	}
	cctx, cancel := c.rpcContext(ctx)
	resp, err := bs.CreateLocalBlock(cctx, &sluicepb.CreateLocalBlockRequest{
		BlockId: id, ReserveBytes: reserve, Pinned: pinned, WriteType: wt.proto(), ClientId: c.clientID,
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create local block %d on %s: %w", id, addr, decodeError(err))
	}
	// No O_TRUNC: the executor may hand over a recycled block file whose memory pages are
	// already allocated, which is much faster to overwrite than fresh ones; it cuts the
	// file to the committed length.
	f, err := os.OpenFile(resp.GetPath(), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		s := &localSink{c: c, bs: bs, id: id}
		s.abort(ctx)
		return nil, &localFileError{fmt.Errorf("open local block file of %d: %w", id, err)}
	}
	s := &localSink{c: c, bs: bs, id: id, f: f}
	// A chunk-sized buffer turns small writes into few system calls; writes of a chunk or
	// more go to the file directly.
	s.bw = bufio.NewWriterSize(f, c.cfg.ChunkSize)
	return s, nil
}

// localSink writes a block into the executor's temporary file (short-circuit write).
type localSink struct {
	c   *Client
	bs  sluicepb.BlockServiceClient
	id  uint64
	f   *os.File
	bw  *bufio.Writer
	crc uint32
	n   int64
}

func (s *localSink) write(p []byte) (int, error) {
	n, err := s.bw.Write(p)
	s.crc = crc32.Update(s.crc, castagnoli, p[:n])
	s.n += int64(n)
	s.c.stats.writeSC.Add(int64(n))
	return n, err
}

func (s *localSink) commit(ctx context.Context) (*sluicepb.BlockInfo, error) {
	err := s.bw.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f = nil
	if err != nil {
		s.abort(ctx)
		return nil, fmt.Errorf("write local block %d: %w", s.id, err)
	}
	cctx, cancel := s.c.rpcContext(ctx)
	defer cancel()
	resp, err := s.bs.CommitLocalBlock(cctx, &sluicepb.CommitLocalBlockRequest{
		BlockId: s.id, Length: s.n, Crc32C: proto.Uint32(s.crc),
	})
	if err != nil {
		err = decodeError(err)
		s.abort(ctx)
		return nil, fmt.Errorf("commit local block %d: %w", s.id, err)
	}
	return &sluicepb.BlockInfo{BlockId: s.id, Length: resp.GetLength(), Crc32C: proto.Uint32(resp.GetCrc32C())}, nil
}

func (s *localSink) abort(ctx context.Context) {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := s.bs.AbortLocalBlock(cctx, &sluicepb.AbortLocalBlockRequest{BlockId: s.id}); err != nil {
		s.c.log.Debug("abort local block", "block_id", s.id, "err", decodeError(err))
	}
}

// remoteSink streams a block to an executor through the transport.
type remoteSink struct {
	c  *Client
	id uint64
	ws blockWriteStream
}

func (s *remoteSink) write(p []byte) (int, error) {
	n, err := s.ws.Write(p)
	s.c.stats.writeRemote.Add(int64(n))
	return n, err
}

func (s *remoteSink) commit(context.Context) (*sluicepb.BlockInfo, error) {
	resp, err := s.ws.commit()
	if err != nil {
		return nil, fmt.Errorf("commit block %d: %w", s.id, err)
	}
	return &sluicepb.BlockInfo{BlockId: s.id, Length: resp.GetLength(), Crc32C: proto.Uint32(resp.GetCrc32C())}, nil
}

func (s *remoteSink) abort(context.Context) { s.ws.abort() }
