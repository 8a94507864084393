package clienttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// blockServer is the fake BlockService of one executor.
type blockServer struct {
	sluicepb.UnimplementedBlockServiceServer
	e *Executor
}

func (s *blockServer) ReadBlock(req *sluicepb.ReadBlockRequest, stream sluicepb.BlockService_ReadBlockServer) error {
	e := s.e
	id := req.GetBlockId()
	if req.GetOffset() < 0 || req.GetLength() < 0 || req.GetChunkSize() < 0 {
		return fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "", "negative offset, length or chunk size")
	}
	// A stored block is streamed from its file; a block read from the UFS from memory.
	var src io.ReaderAt
	var length int64
	fromUFS := false
	e.mu.Lock()
	b := e.blocks[id]
	if req.GetPromote() {
		e.promoted[id]++
	}
	hook := e.readHook
	e.mu.Unlock()
	if b != nil {
		f, err := os.Open(b.path)
		if err != nil {
			return fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "block %d: %v", id, err)
		}
		defer f.Close()
		src, length = f, b.length
	} else {
		u := req.GetUfs()
		if u == nil {
			return withDetail(reasonCode[sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND],
				&sluicepb.ErrorDetail{Reason: sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, BlockId: id},
				"block %d is not on executor %d", id, e.id)
		}
		data, err := e.c.readUFS(u.GetFile().GetUri(), u.GetOffsetInFile(), u.GetLength())
		if err != nil {
			return err
		}
		if !req.GetNoCache() {
			if err := e.cache(id, data); err != nil {
				return err
			}
		}
		src, length, fromUFS = bytes.NewReader(data), int64(len(data)), true
	}
	off := req.GetOffset()
	if off > length {
		return fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "", "offset %d past block %d of %d bytes", off, id, length)
	}
	end := length
	if req.GetLength() > 0 {
		end = min(end, off+req.GetLength())
	}
	chunk := req.GetChunkSize()
	if chunk == 0 {
		chunk = 1 << 20
	}
	first := true
	for pos := off; first || pos < end; first = false {
		if hook != nil {
			if err := hook(stream.Context(), id, pos-off); err != nil {
				return err
			}
		}
		n := min(end-pos, chunk)
		// The buffer goes to gRPC with the message (see sendCodec).
		buf := (*chunkPool.Get(int(n)))[:n]
		if _, err := src.ReadAt(buf, pos); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
			return fail(sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT, "", "block %d: %v", id, err)
		}
		m := &sluicepb.ReadBlockChunk{Offset: pos, Data: buf}
		if first {
			m.BlockLength, m.FromUfs, m.Tier = length, fromUFS, "MEM"
			if fromUFS {
				m.Tier = ""
			}
		}
		if err := stream.Send(m); err != nil {
			return err
		}
		pos += n
	}
	return nil
}

// cache stores a block read from the UFS and commits it to the master.
func (e *Executor) cache(id uint64, data []byte) error {
	b, err := e.store(id, data)
	if err != nil {
		return err
	}
	if err := e.c.commitBlock(e.id, id, b.length, b.crc); err != nil {
		e.dropBlock(id)
		return err
	}
	return nil
}

func (s *blockServer) WriteBlock(stream sluicepb.BlockService_WriteBlockServer) error {
	e := s.e
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hdr := first.GetHeader()
	if hdr == nil {
		return fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "", "the first message must be a header")
	}
	id := hdr.GetBlockId()
	if err := e.c.checkIncomplete(id); err != nil {
		return err
	}
	f, err := os.CreateTemp(e.dir, "write-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	n, crc, err := recvAll(f, func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if m.GetHeader() != nil {
			return nil, fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "", "a second header")
		}
		return m.GetChunk(), nil
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	p := filepath.Join(e.dir, fmt.Sprintf("blk-%d", id))
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	if _, err := e.adopt(id, p, n, crc); err != nil {
		return err
	}
	if err := e.c.commitBlock(e.id, id, n, crc); err != nil {
		e.dropBlock(id)
		return err
	}
	return stream.SendAndClose(&sluicepb.WriteBlockResponse{BlockId: id, Length: n, Crc32C: crc, Tier: "MEM"})
}

func (s *blockServer) WriteUfsFile(stream sluicepb.BlockService_WriteUfsFileServer) error {
	e := s.e
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hdr := first.GetHeader()
	if hdr == nil || hdr.GetUfs() == nil {
		return fail(sluicepb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, "", "the first message must be a header with a UFS file")
	}
	if hdr.GetUfs().GetReadOnly() {
		return fail(sluicepb.ErrorReason_ERROR_REASON_READ_ONLY_MOUNT, "", "%s is read-only", hdr.GetUfs().GetUri())
	}
	var data []byte
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		data = append(data, m.GetChunk()...)
	}
	uri := hdr.GetUfs().GetUri()
	e.c.mu.Lock()
	if _, ok := e.c.ufs[uri]; ok && !hdr.GetOverwrite() {
		e.c.mu.Unlock()
		return fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, "", "UFS file %s exists", uri)
	}
	e.c.ufs[uri] = data
	e.c.mu.Unlock()
	return stream.SendAndClose(&sluicepb.WriteUfsFileResponse{
		UfsUri: uri, Length: int64(len(data)), ContentCrc32C: crc32.Checksum(data, castagnoli),
	})
}

func (s *blockServer) OpenLocalBlock(_ context.Context, req *sluicepb.OpenLocalBlockRequest) (*sluicepb.OpenLocalBlockResponse, error) {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.blocks[req.GetBlockId()]
	if b == nil {
		return nil, withDetail(reasonCode[sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND],
			&sluicepb.ErrorDetail{Reason: sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, BlockId: req.GetBlockId()},
			"block %d is not on executor %d", req.GetBlockId(), e.id)
	}
	if req.GetPromote() {
		e.promoted[req.GetBlockId()]++
	}
	e.nextLock++
	e.locks[e.nextLock] = req.GetBlockId()
	return &sluicepb.OpenLocalBlockResponse{Path: e.prefix + b.path, Length: b.length, Crc32C: b.crc, LockId: e.nextLock, Tier: "MEM"}, nil
}

func (s *blockServer) CloseLocalBlock(_ context.Context, req *sluicepb.CloseLocalBlockRequest) (*sluicepb.CloseLocalBlockResponse, error) {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.locks[req.GetLockId()]; !ok {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "no lock %d", req.GetLockId())
	}
	delete(e.locks, req.GetLockId())
	return &sluicepb.CloseLocalBlockResponse{}, nil
}

func (s *blockServer) CreateLocalBlock(_ context.Context, req *sluicepb.CreateLocalBlockRequest) (*sluicepb.CreateLocalBlockResponse, error) {
	e := s.e
	id := req.GetBlockId()
	if err := e.c.checkIncomplete(id); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.used+req.GetReserveBytes() > e.cap {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NO_SPACE, "", "executor %d is full", e.id)
	}
	if _, ok := e.temps[id]; ok {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_ALREADY_EXISTS, "", "block %d is being written", id)
	}
	p := filepath.Join(e.dir, fmt.Sprintf("tmp-%d-%s", id, req.GetClientId()))
	e.temps[id] = p
	return &sluicepb.CreateLocalBlockResponse{Path: e.prefix + p, BlockId: id, ReservedBytes: req.GetReserveBytes(), Tier: "MEM"}, nil
}

func (s *blockServer) CommitLocalBlock(_ context.Context, req *sluicepb.CommitLocalBlockRequest) (*sluicepb.CommitLocalBlockResponse, error) {
	e := s.e
	id := req.GetBlockId()
	e.mu.Lock()
	tmp, ok := e.temps[id]
	delete(e.temps, id)
	e.mu.Unlock()
	if !ok {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "no local write of block %d", id)
	}
	n, crc, err := checksumFile(tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "block file of %d: %v", id, err)
	}
	if n != req.GetLength() {
		os.Remove(tmp)
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH, "", "block %d has %d bytes, client wrote %d", id, n, req.GetLength())
	}
	if req.Crc32C != nil && req.GetCrc32C() != crc {
		os.Remove(tmp)
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_BLOCK_CORRUPT, "", "block %d checksum %08x, client computed %08x", id, crc, req.GetCrc32C())
	}
	// Like a real executor, move the client's file into place rather than copying it.
	p := filepath.Join(e.dir, fmt.Sprintf("blk-%d", id))
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	b, err := e.adopt(id, p, n, crc)
	if err != nil {
		return nil, err
	}
	if err := e.c.commitBlock(e.id, id, b.length, b.crc); err != nil {
		e.dropBlock(id)
		return nil, err
	}
	return &sluicepb.CommitLocalBlockResponse{Length: b.length, Crc32C: b.crc, Tier: "MEM"}, nil
}

func (s *blockServer) AbortLocalBlock(_ context.Context, req *sluicepb.AbortLocalBlockRequest) (*sluicepb.AbortLocalBlockResponse, error) {
	e := s.e
	e.mu.Lock()
	defer e.mu.Unlock()
	tmp, ok := e.temps[req.GetBlockId()]
	if !ok {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "no local write of block %d", req.GetBlockId())
	}
	delete(e.temps, req.GetBlockId())
	os.Remove(tmp)
	return &sluicepb.AbortLocalBlockResponse{}, nil
}

func (s *blockServer) RemoveBlock(_ context.Context, req *sluicepb.RemoveBlockRequest) (*sluicepb.RemoveBlockResponse, error) {
	e := s.e
	if !e.HasBlock(req.GetBlockId()) {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "block %d is not here", req.GetBlockId())
	}
	e.dropBlock(req.GetBlockId())
	e.c.uncommitBlock(e.id, req.GetBlockId())
	return &sluicepb.RemoveBlockResponse{}, nil
}

func (s *blockServer) CacheBlock(_ context.Context, req *sluicepb.CacheBlockRequest) (*sluicepb.CacheBlockResponse, error) {
	e := s.e
	id := req.GetBlockId()
	e.mu.Lock()
	b := e.blocks[id]
	e.mu.Unlock()
	if b != nil {
		return &sluicepb.CacheBlockResponse{Length: b.length, Crc32C: b.crc, Tier: "MEM", AlreadyCached: true}, nil
	}
	src := req.GetSource()
	if src == nil {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_PERSISTED, "", "block %d has no UFS source", id)
	}
	data, err := e.c.readUFS(src.GetFile().GetUri(), src.GetOffsetInFile(), src.GetLength())
	if err != nil {
		return nil, err
	}
	if err := e.cache(id, data); err != nil {
		return nil, err
	}
	return &sluicepb.CacheBlockResponse{Length: int64(len(data)), Crc32C: crc32.Checksum(data, castagnoli), Tier: "MEM"}, nil
}

// checksumFile returns the size and CRC32C of the file at p.
func checksumFile(p string) (int64, uint32, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	return n, h.Sum32(), err
}
