package bench

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// The stub master is the reference of the metadata figures: a FileSystemMaster that
// replays answers the real master gave, at once. The same clients calling it show the
// ceiling the client library and gRPC allow on this machine; the real master's rate
// beside it shows what the master itself costs.

// Answers are real answers of the master, replayed by the stub.
type Answers struct {
	Create   *sluicepb.CreateFileResponse
	Complete *sluicepb.CompleteFileResponse
	Status   *sluicepb.GetStatusResponse
	// List is the listing of a directory (nil: the stub does not answer ListStatus).
	List *sluicepb.ListStatusResponse
}

// CaptureAnswers creates, completes and stats the file sample on the master at addr with
// raw gRPC calls, lists listDir when it is not empty, and keeps the answers. The sample
// file stays; the caller removes it with the rest of its files.
func CaptureAnswers(ctx context.Context, addr, sample, listDir string) (Answers, error) {
	var a Answers
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return a, fmt.Errorf("stub: dial the master: %w", err)
	}
	defer cc.Close()
	fs := sluicepb.NewFileSystemMasterClient(cc)
	if a.Create, err = fs.CreateFile(ctx, &sluicepb.CreateFileRequest{Path: sample, WriteType: sluicepb.WriteType_WRITE_TYPE_MUST_CACHE, Recursive: true}); err != nil {
		return a, fmt.Errorf("stub: capture CreateFile: %w", err)
	}
	if a.Complete, err = fs.CompleteFile(ctx, &sluicepb.CompleteFileRequest{Path: sample, FileId: a.Create.GetFile().GetFileId()}); err != nil {
		return a, fmt.Errorf("stub: capture CompleteFile: %w", err)
	}
	if a.Status, err = fs.GetStatus(ctx, &sluicepb.GetStatusRequest{Path: sample}); err != nil {
		return a, fmt.Errorf("stub: capture GetStatus: %w", err)
	}
	if listDir != "" {
		if a.List, err = fs.ListStatus(ctx, &sluicepb.ListStatusRequest{Path: listDir}); err != nil {
			return a, fmt.Errorf("stub: capture ListStatus: %w", err)
		}
	}
	return a, nil
}

// stubMaster answers GetMasterInfo as the leader and the file calls with canned answers;
// every other call is unimplemented.
type stubMaster struct {
	sluicepb.UnimplementedFileSystemMasterServer
	sluicepb.UnimplementedMetaMasterServer
	addr string
	a    Answers
}

func (s *stubMaster) GetMasterInfo(context.Context, *sluicepb.GetMasterInfoRequest) (*sluicepb.GetMasterInfoResponse, error) {
	return &sluicepb.GetMasterInfoResponse{LeaderAddress: s.addr, RpcAddress: s.addr, IsLeader: true}, nil
}

func (s *stubMaster) CreateFile(context.Context, *sluicepb.CreateFileRequest) (*sluicepb.CreateFileResponse, error) {
	return s.a.Create, nil
}

func (s *stubMaster) CompleteFile(context.Context, *sluicepb.CompleteFileRequest) (*sluicepb.CompleteFileResponse, error) {
	return s.a.Complete, nil
}

func (s *stubMaster) GetStatus(context.Context, *sluicepb.GetStatusRequest) (*sluicepb.GetStatusResponse, error) {
	return s.a.Status, nil
}

func (s *stubMaster) ListStatus(ctx context.Context, req *sluicepb.ListStatusRequest) (*sluicepb.ListStatusResponse, error) {
	if s.a.List == nil {
		return s.UnimplementedFileSystemMasterServer.ListStatus(ctx, req)
	}
	return s.a.List, nil
}

// Stub is a running stub master.
type Stub struct {
	// Addr is its loopback gRPC address.
	Addr string
	srv  *grpc.Server
	done chan error
}

// StartStub serves a stub master replaying a on a loopback port until Stop.
func StartStub(a Answers) (*Stub, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stub: %w", err)
	}
	s := &stubMaster{addr: lis.Addr().String(), a: a}
	// The same server options as the real master (master/master.go): stream workers and
	// fixed flow-control windows, so the reference pays no per-call cost the master
	// does not.
	srv := grpc.NewServer(grpc.MaxSendMsgSize(64<<20), grpc.NumStreamWorkers(64),
		grpc.InitialWindowSize(4<<20), grpc.InitialConnWindowSize(16<<20))
	sluicepb.RegisterFileSystemMasterServer(srv, s)
	sluicepb.RegisterMetaMasterServer(srv, s)
	st := &Stub{Addr: s.addr, srv: srv, done: make(chan error, 1)}
	go func() { st.done <- srv.Serve(lis) }()
	return st, nil
}

// Stop stops the stub and returns the error its server ended with, if any.
func (s *Stub) Stop() error {
	s.srv.Stop()
	return <-s.done
}
