package client

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client/clienttest"
)

// checkAborted checks that a failed write left no file and no block behind.
func checkAborted(t *testing.T, c *clienttest.Cluster, path string) {
	t.Helper()
	if fi, ok := c.FileStatus(path); ok {
		t.Errorf("file left after a failed write: %v", fi)
	}
	for _, e := range c.Executors() {
		if n := e.BlockCount(); n != 0 {
			t.Errorf("executor %d keeps %d blocks after a failed write", e.ID(), n)
		}
		if n := e.PendingLocalWrites(); n != 0 {
			t.Errorf("executor %d keeps %d short-circuit writes after a failed write", e.ID(), n)
		}
	}
}

func TestWriter_FailureAborts(t *testing.T) {
	internal := clienttest.Status(codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR, "injected")
	noSpace := clienttest.Status(codes.ResourceExhausted, sluicepb.ErrorReason_ERROR_REASON_NO_SPACE, "full")
	tests := []struct {
		name   string
		host   string
		wt     WriteType
		method string
		errs   []error
		want   error
		// failsOnWrite tells that Write (not Close) reports the failure.
		failsOnWrite bool
	}{
		{"complete fails", "", WriteMustCache, "CompleteFile", []error{internal}, ErrUFS, false},
		{"local commit fails", "", WriteMustCache, "CommitLocalBlock", []error{internal}, ErrUFS, true},
		// The local create is refused, and so is the stream the writer falls back to.
		{"local create refused", "", WriteAsyncThrough, "CreateLocalBlock", []error{noSpace, noSpace, noSpace, noSpace}, ErrNoSpace, true},
		{"remote stream fails", "node-b", WriteMustCache, "WriteBlock", []error{internal}, ErrUFS, true},
		{"through fails", "", WriteThrough, "WriteUfsFile", []error{internal}, ErrUFS, false},
		{"cache-through complete fails", "node-b", WriteCacheThrough, "CompleteFile", []error{internal}, ErrUFS, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: tt.host}}})
			cl := newClient(t, c, nil)
			w, err := cl.Create(t.Context(), "/f", CreateOptions{WriteType: tt.wt, BlockSize: testBlockSize})
			if err != nil {
				t.Fatal(err)
			}
			c.InjectError(tt.method, tt.errs...)
			if tt.method == "CreateLocalBlock" {
				c.InjectError("WriteBlock", noSpace)
			}
			data := payload(2*testBlockSize+10, 3)
			_, werr := w.Write(data)
			cerr := w.Close()
			if tt.failsOnWrite && !errors.Is(werr, tt.want) {
				t.Errorf("Write = %v, want %v", werr, tt.want)
			}
			if !errors.Is(cerr, tt.want) {
				t.Errorf("Close = %v, want %v", cerr, tt.want)
			}
			if _, err := w.Write([]byte("more")); err == nil {
				t.Error("Write after a failure succeeded")
			}
			checkAborted(t, c, "/f")
			if tt.wt == WriteThrough {
				if _, ok := c.UFS("mem:///root/f"); ok {
					t.Error("a failed THROUGH write left a UFS file")
				}
			}
		})
	}
}

func TestWriter_Abort(t *testing.T) {
	for _, host := range []string{"", "node-b"} {
		t.Run("host="+host, func(t *testing.T) {
			c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: host}}})
			cl := newClient(t, c, nil)
			w, err := cl.Create(t.Context(), "/f", CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(payload(testBlockSize+100, 4)); err != nil {
				t.Fatal(err)
			}
			if err := w.Abort(); err != nil {
				t.Fatalf("Abort = %v", err)
			}
			if err := w.Close(); !errors.Is(err, ErrWriteAborted) {
				t.Errorf("Close after Abort = %v, want ErrWriteAborted", err)
			}
			checkAborted(t, c, "/f")
		})
	}
}

func TestWriter_ContextCancelAborts(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := cl.Create(ctx, "/f", CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(payload(testBlockSize+1, 5)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Write([]byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Write after cancel = %v", err)
	}
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Errorf("Close after cancel = %v", err)
	}
	checkAborted(t, c, "/f")
}

func TestWriter_SkipsFullExecutor(t *testing.T) {
	// The local executor is full: the blocks go to the remote one.
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{
		{Capacity: testBlockSize / 2}, {Host: "node-b"},
	}})
	cl := newClient(t, c, nil)
	data := payload(2*testBlockSize, 6)
	writeFile(t, cl, "/f", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	if n := c.Executors()[1].BlockCount(); n != 2 {
		t.Errorf("remote executor holds %d blocks, want 2", n)
	}
	if got := readFile(t, cl, "/f", OpenOptions{}); !bytes.Equal(got, data) {
		t.Error("read back wrong bytes")
	}
}

func TestWriter_SpreadsRemoteBlocks(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Host: "node-a"}, {Host: "node-b"}}})
	cl := newClient(t, c, nil)
	writeFile(t, cl, "/f", payload(4*testBlockSize, 7), CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	for _, e := range c.Executors() {
		if n := e.BlockCount(); n != 2 {
			t.Errorf("executor %s holds %d blocks, want 2", e.Host(), n)
		}
	}
}

func TestWriter_ClaimsJobPlaceholderAndCloseTwice(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	w, err := cl.Create(t.Context(), "/out", CreateOptions{JobID: "job-1", WriteType: WriteMustCache})
	if err != nil {
		t.Fatal(err)
	}
	if w.Info().FileID == 0 || w.Info().Complete {
		t.Errorf("Info before Close = %+v", w.Info())
	}
	if _, err := w.Write([]byte("result")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Close = %v", err)
	}
	if st, err := cl.Stat(t.Context(), "/out"); err != nil || st.JobID != "job-1" || st.Length != 6 {
		t.Errorf("Stat = %+v, %v", st, err)
	}
}

func TestWriter_JobOutputKeepsPlaceholderOnFailure(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	cl := newClient(t, c, nil)
	w, err := cl.Create(t.Context(), "/job/out", CreateOptions{JobID: "job-9", Recursive: true, WriteType: WriteMustCache})
	if err != nil {
		t.Fatal(err)
	}
	c.InjectError("CompleteFile", clienttest.Status(codes.Internal, sluicepb.ErrorReason_ERROR_REASON_UFS_ERROR, "injected"))
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrUFS) {
		t.Fatalf("Close = %v", err)
	}
	fi, ok := c.FileStatus("/job/out")
	if !ok || fi.GetState() != sluicepb.FileState_FILE_STATE_INCOMPLETE || fi.GetJobId() != "job-9" {
		t.Fatalf("placeholder after a failed job write: %v, %v", fi, ok)
	}
	if _, err := cl.Open(t.Context(), "/job/out", OpenOptions{}); !errors.Is(err, ErrFileIncomplete) {
		t.Errorf("Open of the failed output = %v, want ErrFileIncomplete", err)
	}
}
