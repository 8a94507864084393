package client

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	stream, err := bs.ReadBlock(sctx, req)
	if err != nil {
		cancel()
		return nil, decodeError(err)
	}
	r := &grpcReadStream{stream: stream, cancel: cancel}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read block %d on %s: stream ended before the first chunk: %w", req.GetBlockId(), addr, ErrShortBlock)
		}
		return nil, decodeError(err)
	}
	r.length, r.ufs, r.cur = first.GetBlockLength(), first.GetFromUfs(), first.GetData()
	return r, nil
}

// grpcReadStream adapts a ReadBlock stream to blockReadStream.
type grpcReadStream struct {
	stream sluicepb.BlockService_ReadBlockClient
	cancel context.CancelFunc
	// cur is what remains of the last chunk received.
	cur    []byte
	length int64
	ufs    bool
	err    error
}

func (r *grpcReadStream) blockLength() int64 { return r.length }
func (r *grpcReadStream) fromUFS() bool      { return r.ufs }

// next receives the next chunk into cur; it returns io.EOF at the end of the stream.
func (r *grpcReadStream) next() error {
	if r.err != nil {
		return r.err
	}
	for len(r.cur) == 0 {
		m, err := r.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				err = decodeError(err)
			}
			r.err = err
			return err
		}
		r.cur = m.GetData()
	}
	return nil
}

func (r *grpcReadStream) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := r.next(); err != nil {
		return 0, err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
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
		n, err := w.Write(r.cur)
		total += int64(n)
		r.cur = r.cur[n:]
		if err != nil {
			return total, &sinkError{err}
		}
	}
}

func (r *grpcReadStream) Close() error {
	r.cancel()
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
	if err := stream.Send(&sluicepb.WriteBlockRequest{Value: &sluicepb.WriteBlockRequest_Header{Header: hdr}}); err != nil {
		cancel()
		return nil, streamSendError(stream.CloseAndRecv, err)
	}
	w := &grpcBlockWriter{stream: stream, cancel: cancel}
	msg := &sluicepb.WriteBlockRequest{}
	chunk := &sluicepb.WriteBlockRequest_Chunk{}
	w.cw = chunkWriter{size: t.chunk, send: func(p []byte) error {
		chunk.Chunk = p
		msg.Value = chunk
		if err := stream.Send(msg); err != nil {
			return streamSendError(stream.CloseAndRecv, err)
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

// grpcBlockWriter adapts a WriteBlock stream to blockWriteStream.
type grpcBlockWriter struct {
	stream sluicepb.BlockService_WriteBlockClient
	cancel context.CancelFunc
	cw     chunkWriter
}

func (w *grpcBlockWriter) Write(p []byte) (int, error) { return w.cw.Write(p) }

func (w *grpcBlockWriter) commit() (*sluicepb.WriteBlockResponse, error) {
	defer w.cancel()
	if err := w.cw.flush(); err != nil {
		return nil, err
	}
	resp, err := w.stream.CloseAndRecv()
	return resp, decodeError(err)
}

func (w *grpcBlockWriter) abort() { w.cancel() }

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
	if err := stream.Send(&sluicepb.WriteUfsFileRequest{Value: &sluicepb.WriteUfsFileRequest_Header{Header: hdr}}); err != nil {
		cancel()
		return nil, streamSendError(stream.CloseAndRecv, err)
	}
	w := &grpcUfsWriter{stream: stream, cancel: cancel}
	msg := &sluicepb.WriteUfsFileRequest{}
	chunk := &sluicepb.WriteUfsFileRequest_Chunk{}
	w.cw = chunkWriter{size: t.chunk, send: func(p []byte) error {
		chunk.Chunk = p
		msg.Value = chunk
		if err := stream.Send(msg); err != nil {
			return streamSendError(stream.CloseAndRecv, err)
		}
		return nil
	}}
	return w, nil
}

// grpcUfsWriter adapts a WriteUfsFile stream to ufsWriteStream.
type grpcUfsWriter struct {
	stream sluicepb.BlockService_WriteUfsFileClient
	cancel context.CancelFunc
	cw     chunkWriter
}

func (w *grpcUfsWriter) Write(p []byte) (int, error) { return w.cw.Write(p) }

func (w *grpcUfsWriter) commit() (*sluicepb.WriteUfsFileResponse, error) {
	defer w.cancel()
	if err := w.cw.flush(); err != nil {
		return nil, err
	}
	resp, err := w.stream.CloseAndRecv()
	return resp, decodeError(err)
}

func (w *grpcUfsWriter) abort() { w.cancel() }
