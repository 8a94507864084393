package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// blockTransport moves block bytes between the client and executors. It owns the chunk
// size and the wire format, so a faster transport (for example a raw TCP data plane on
// BlockLocation.data_address) can replace gRPC without touching readers and writers.
// Implementations are safe for concurrent use; each returned stream is used by one
// goroutine at a time.
type blockTransport interface {
	// read opens a read of req's range of a block on the executor at addr. It returns once
	// the first chunk arrived, so a missing block fails here; the stream delivers exactly
	// the range (or the rest of the block when req.Length is 0).
	read(ctx context.Context, addr string, req *sluicepb.ReadBlockRequest) (blockReadStream, error)
	// write opens a new block on the executor at addr.
	write(ctx context.Context, addr string, hdr *sluicepb.WriteBlockHeader) (blockWriteStream, error)
	// writeUFS opens a THROUGH write of a whole file through the executor at addr.
	writeUFS(ctx context.Context, addr string, hdr *sluicepb.WriteUfsFileHeader) (ufsWriteStream, error)
}

// blockReadStream is an open block read. Read copies the next bytes into p; WriteTo hands
// the received chunks to w without copying them first. Close ends the stream early.
type blockReadStream interface {
	io.Reader
	io.WriterTo
	io.Closer
	// blockLength is the whole block's length as the executor reported it.
	blockLength() int64
	// fromUFS tells that the bytes come from the UFS rather than a tier.
	fromUFS() bool
}

// blockWriteStream is an open block write. Write may buffer up to one chunk; commit sends
// the rest, half-closes and returns the executor's answer; abort cancels the write so the
// executor discards the block. After commit or abort the stream is unusable.
type blockWriteStream interface {
	io.Writer
	commit() (*sluicepb.WriteBlockResponse, error)
	abort()
}

// ufsWriteStream is an open THROUGH write; see blockWriteStream.
type ufsWriteStream interface {
	io.Writer
	commit() (*sluicepb.WriteUfsFileResponse, error)
	abort()
}

// grpcTransport is the default blockTransport: BlockService streams on rpc_address.
type grpcTransport struct {
	c     *Client
	chunk int
}

func (t *grpcTransport) read(ctx context.Context, addr string, req *sluicepb.ReadBlockRequest) (blockReadStream, error) {
	bs, err := t.c.blockService(addr)
	if err != nil {
		return nil, err
	}
	if req.ChunkSize == 0 {
		req.ChunkSize = int64(t.chunk)
	}
	sctx, cancel := context.WithCancel(ctx)
	codec := &chunkCodec{}
	stream, err := bs.ReadBlock(sctx, req, grpc.ForceCodecV2(codec))
	if err != nil {
		cancel()
		return nil, decodeError(err)
	}
	r := &grpcReadStream{stream: stream, cancel: cancel, codec: codec, msg: &sluicepb.ReadBlockChunk{},
		wd: newWatchdog(t.c.cfg.StreamIdleTimeout, cancel)}
	if err := r.recv(); err != nil {
		r.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read block %d on %s: stream ended before the first chunk: %w", req.GetBlockId(), addr, ErrShortBlock)
		}
		return nil, err
	}
	r.length, r.ufs = r.msg.GetBlockLength(), r.msg.GetFromUfs()
	return r, nil
}

// grpcReadStream adapts a ReadBlock stream to blockReadStream. The chunks' bytes stay in
// gRPC's receive buffers (see chunkCodec) until they are consumed.
type grpcReadStream struct {
	stream sluicepb.BlockService_ReadBlockClient
	cancel context.CancelFunc
	codec  *chunkCodec
	wd     *watchdog
	msg    *sluicepb.ReadBlockChunk
	// segs is what remains of the last chunk received.
	segs   [][]byte
	length int64
	ufs    bool
	err    error
}

func (r *grpcReadStream) blockLength() int64 { return r.length }
func (r *grpcReadStream) fromUFS() bool      { return r.ufs }

// recv receives the next chunk into segs.
func (r *grpcReadStream) recv() error {
	r.segs = nil
	r.wd.arm()
	err := r.stream.RecvMsg(r.msg)
	r.wd.disarm()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			err = r.wd.check(decodeError(err))
		}
		r.err = err
		return err
	}
	r.segs = r.codec.segs
	if len(r.segs) == 0 && len(r.msg.GetData()) > 0 {
		r.segs = [][]byte{r.msg.GetData()}
	}
	return nil
}

// next makes sure segs holds unread bytes; it returns io.EOF at the end of the stream.
func (r *grpcReadStream) next() error {
	for {
		for len(r.segs) > 0 && len(r.segs[0]) == 0 {
			r.segs = r.segs[1:]
		}
		if len(r.segs) > 0 {
			return nil
		}
		if r.err != nil {
			return r.err
		}
		if err := r.recv(); err != nil {
			return err
		}
	}
}

func (r *grpcReadStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if err := r.next(); err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		for len(r.segs) > 0 && n < len(p) {
			k := copy(p[n:], r.segs[0])
			r.segs[0] = r.segs[0][k:]
			n += k
			if len(r.segs[0]) == 0 {
				r.segs = r.segs[1:]
			}
		}
	}
	return n, nil
}

func (r *grpcReadStream) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, err
		}
		n, err := w.Write(r.segs[0])
		total += int64(n)
		r.segs[0] = r.segs[0][n:]
		if err != nil {
			return total, &sinkError{err}
		}
	}
}

func (r *grpcReadStream) Close() error {
	r.cancel()
	r.codec.release()
	r.segs = nil
	if r.err == nil {
		r.err = ErrClosed
	}
	return nil
}

// sinkError marks an error of the destination writer in WriteTo, which must not make the
// reader try another source.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

// chunkWriter buffers writes into chunks of a fixed size and hands full chunks to send.
// send must not keep the slice after it returns: the buffer is reused, since gRPC
// marshals a message inside SendMsg and this client installs no stats handlers that
// would keep messages.
type chunkWriter struct {
	buf  []byte
	size int
	send func([]byte) error
	err  error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == 0 && len(p) >= w.size {
			// Whole chunks go out straight from the caller's buffer.
			if err := w.send(p[:w.size]); err != nil {
				w.err = err
				return n, err
			}
			n += w.size
			p = p[w.size:]
			continue
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, w.size)
		}
		k := min(len(p), w.size-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		n += k
		p = p[k:]
		if len(w.buf) == w.size {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.send(w.buf); err != nil {
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

func (t *grpcTransport) write(ctx context.Context, addr string, hdr *sluicepb.WriteBlockHeader) (blockWriteStream, error) {
	bs, err := t.c.blockService(addr)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := bs.WriteBlock(sctx)
	if err != nil {
		cancel()
		return nil, decodeError(err)
	}
	msg := &sluicepb.WriteBlockRequest{}
	chunk := &sluicepb.WriteBlockRequest_Chunk{}
	return newStreamWriter(stream, cancel, newWatchdog(t.c.cfg.StreamIdleTimeout, cancel), t.chunk,
		&sluicepb.WriteBlockRequest{Value: &sluicepb.WriteBlockRequest_Header{Header: hdr}},
		func(p []byte) *sluicepb.WriteBlockRequest {
			chunk.Chunk = p
			msg.Value = chunk
			return msg
		})
}

func (t *grpcTransport) writeUFS(ctx context.Context, addr string, hdr *sluicepb.WriteUfsFileHeader) (ufsWriteStream, error) {
	bs, err := t.c.blockService(addr)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := bs.WriteUfsFile(sctx)
	if err != nil {
		cancel()
		return nil, decodeError(err)
	}
	msg := &sluicepb.WriteUfsFileRequest{}
	chunk := &sluicepb.WriteUfsFileRequest_Chunk{}
	return newStreamWriter(stream, cancel, newWatchdog(t.c.cfg.StreamIdleTimeout, cancel), t.chunk,
		&sluicepb.WriteUfsFileRequest{Value: &sluicepb.WriteUfsFileRequest_Header{Header: hdr}},
		func(p []byte) *sluicepb.WriteUfsFileRequest {
			chunk.Chunk = p
			msg.Value = chunk
			return msg
		})
}

// clientStream is a gRPC client stream of Req messages answered by one Resp.
type clientStream[Req, Resp any] interface {
	Send(*Req) error
	CloseAndRecv() (*Resp, error)
}

// streamWriter adapts a client stream (a header, then chunks) to blockWriteStream and
// ufsWriteStream.
type streamWriter[Req, Resp any] struct {
	stream clientStream[Req, Resp]
	cancel context.CancelFunc
	wd     *watchdog
	cw     chunkWriter
}

// newStreamWriter sends header and returns a writer that sends chunk(p) for every chunk
// of size bytes.
func newStreamWriter[Req, Resp any](stream clientStream[Req, Resp], cancel context.CancelFunc, wd *watchdog, size int, header *Req, chunk func([]byte) *Req) (*streamWriter[Req, Resp], error) {
	if err := stream.Send(header); err != nil {
		cancel()
		return nil, streamSendError(stream.CloseAndRecv, err)
	}
	w := &streamWriter[Req, Resp]{stream: stream, cancel: cancel, wd: wd}
	w.cw = chunkWriter{size: size, send: func(p []byte) error {
		wd.arm()
		err := stream.Send(chunk(p))
		wd.disarm()
		if err != nil {
			return wd.check(streamSendError(stream.CloseAndRecv, err))
		}
		return nil
	}}
	return w, nil
}

// streamSendError returns the real cause of a failed Send on a client stream: gRPC reports
// io.EOF from Send when the server ended the call, and the status comes from CloseAndRecv.
func streamSendError[R any](closeAndRecv func() (R, error), err error) error {
	if errors.Is(err, io.EOF) {
		if _, rerr := closeAndRecv(); rerr != nil {
			return decodeError(rerr)
		}
	}
	return decodeError(err)
}

func (w *streamWriter[Req, Resp]) Write(p []byte) (int, error) { return w.cw.Write(p) }

func (w *streamWriter[Req, Resp]) commit() (*Resp, error) {
	defer w.cancel()
	if err := w.cw.flush(); err != nil {
		return nil, err
	}
	w.wd.arm()
	resp, err := w.stream.CloseAndRecv()
	w.wd.disarm()
	return resp, w.wd.check(decodeError(err))
}

func (w *streamWriter[Req, Resp]) abort() { w.cancel() }
