package sluicepb

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// memBlockService is a BlockService over a map, just enough to drive the generated stubs
// through a real gRPC connection: streamed reads, a header-then-chunks write, and an error
// carrying an ErrorDetail.
type memBlockService struct {
	UnimplementedBlockServiceServer
	blocks map[uint64][]byte
}

func (s *memBlockService) ReadBlock(req *ReadBlockRequest, stream grpc.ServerStreamingServer[ReadBlockChunk]) error {
	data, ok := s.blocks[req.GetBlockId()]
	if !ok {
		st, err := status.New(codes.NotFound, "block not found").WithDetails(&ErrorDetail{
			Reason:  ErrorReason_ERROR_REASON_NOT_FOUND,
			BlockId: req.GetBlockId(),
		})
		if err != nil {
			return err
		}
		return st.Err()
	}
	end := int64(len(data))
	if req.GetLength() > 0 {
		end = min(end, req.GetOffset()+req.GetLength())
	}
	chunkSize := req.GetChunkSize()
	if chunkSize <= 0 {
		chunkSize = 1 << 20
	}
	off := req.GetOffset()
	first := true
	for first || off < end {
		n := min(end-off, chunkSize)
		chunk := &ReadBlockChunk{Offset: off, Data: data[off : off+n]}
		if first {
			chunk.BlockLength = int64(len(data))
			chunk.Tier = "MEM"
		}
		if err := stream.Send(chunk); err != nil {
			return err
		}
		off += n
		first = false
	}
	return nil
}

func (s *memBlockService) WriteBlock(stream grpc.ClientStreamingServer[WriteBlockRequest, WriteBlockResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	header := first.GetHeader()
	if header == nil {
		return status.Error(codes.InvalidArgument, "first message must be a header")
	}
	var buf bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		buf.Write(msg.GetChunk())
	}
	s.blocks[header.GetBlockId()] = buf.Bytes()
	return stream.SendAndClose(&WriteBlockResponse{
		BlockId: header.GetBlockId(),
		Length:  int64(buf.Len()),
		Tier:    header.GetTier(),
	})
}

// dialBlockService serves svc on a loopback port for the test's lifetime.
func dialBlockService(t *testing.T, svc BlockServiceServer) BlockServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	RegisterBlockServiceServer(srv, svc)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return NewBlockServiceClient(conn)
}

func TestBlockService_WriteThenReadOverGRPC(t *testing.T) {
	client := dialBlockService(t, &memBlockService{blocks: map[uint64][]byte{}})
	ctx := t.Context()
	id := NewBlockID(42, 3)
	want := bytes.Repeat([]byte("sluice-"), 1000)

	ws, err := client.WriteBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Send(&WriteBlockRequest{Value: &WriteBlockRequest_Header{Header: &WriteBlockHeader{
		BlockId: id, Tier: "MEM", SizeHint: int64(len(want)), WriteType: WriteType_WRITE_TYPE_MUST_CACHE,
	}}}); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(want); off += 999 {
		if err := ws.Send(&WriteBlockRequest{Value: &WriteBlockRequest_Chunk{Chunk: want[off:min(off+999, len(want))]}}); err != nil {
			t.Fatal(err)
		}
	}
	wresp, err := ws.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&WriteBlockResponse{BlockId: id, Length: int64(len(want)), Tier: "MEM"}, wresp, protocmp.Transform()); diff != "" {
		t.Errorf("WriteBlock response (-want +got):\n%s", diff)
	}

	tests := []struct {
		name           string
		offset, length int64
		wantChunks     int
	}{
		{name: "whole block", offset: 0, length: 0, wantChunks: 7},
		{name: "middle range", offset: 500, length: 2500, wantChunks: 3},
		{name: "empty range still sends one chunk", offset: int64(len(want)), length: 0, wantChunks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := client.ReadBlock(ctx, &ReadBlockRequest{BlockId: id, Offset: tt.offset, Length: tt.length, ChunkSize: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			chunks := 0
			for {
				c, err := rs.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if chunks == 0 && c.GetBlockLength() != int64(len(want)) {
					t.Errorf("first chunk block_length = %d, want %d", c.GetBlockLength(), len(want))
				}
				if c.GetOffset() != tt.offset+int64(len(got)) {
					t.Errorf("chunk %d offset = %d, want %d", chunks, c.GetOffset(), tt.offset+int64(len(got)))
				}
				got = append(got, c.GetData()...)
				chunks++
			}
			end := int64(len(want))
			if tt.length > 0 {
				end = tt.offset + tt.length
			}
			if !bytes.Equal(got, want[tt.offset:end]) {
				t.Errorf("read %d bytes, want bytes [%d, %d)", len(got), tt.offset, end)
			}
			if chunks != tt.wantChunks {
				t.Errorf("got %d chunks, want %d", chunks, tt.wantChunks)
			}
		})
	}
}

func TestErrorDetail_CrossesGRPC(t *testing.T) {
	client := dialBlockService(t, &memBlockService{blocks: map[uint64][]byte{}})
	missing := NewBlockID(7, 1)
	rs, err := client.ReadBlock(t.Context(), &ReadBlockRequest{BlockId: missing})
	if err == nil {
		_, err = rs.Recv()
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.NotFound {
		t.Fatalf("ReadBlock of a missing block: %v, want codes.NotFound", err)
	}
	var detail *ErrorDetail
	for _, d := range st.Details() {
		if ed, ok := d.(*ErrorDetail); ok {
			detail = ed
		}
	}
	want := &ErrorDetail{Reason: ErrorReason_ERROR_REASON_NOT_FOUND, BlockId: missing}
	if diff := cmp.Diff(want, detail, protocmp.Transform()); diff != "" {
		t.Errorf("ErrorDetail (-want +got):\n%s", diff)
	}
}

// TestSetAttributeRequest_OptionalFields checks that unset differs from false/zero on the
// wire, which SetAttribute depends on (unpin versus leave the pin alone).
func TestSetAttributeRequest_OptionalFields(t *testing.T) {
	unpin := &SetAttributeRequest{Path: "/a", Pinned: proto.Bool(false), TtlMs: proto.Int64(0)}
	untouched := &SetAttributeRequest{Path: "/a"}
	for _, tt := range []struct {
		name                string
		msg                 *SetAttributeRequest
		wantPinned, wantTTL bool
	}{
		{name: "explicit false and zero", msg: unpin, wantPinned: true, wantTTL: true},
		{name: "unset", msg: untouched, wantPinned: false, wantTTL: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			var got SetAttributeRequest
			if err := proto.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if (got.Pinned != nil) != tt.wantPinned || (got.TtlMs != nil) != tt.wantTTL {
				t.Errorf("after a round trip: pinned set = %v, ttl set = %v; want %v, %v",
					got.Pinned != nil, got.TtlMs != nil, tt.wantPinned, tt.wantTTL)
			}
		})
	}
}
