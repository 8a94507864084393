package client

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluicedata/sluice/client/clienttest"
)

func TestFileWriter_Reservation(t *testing.T) {
	const bs = 1 << 20
	tests := []struct {
		name          string
		hint, written int64
		want          int64
	}{
		{"unknown size", 0, 0, bs},
		{"small file", 100 << 10, 0, 100 << 10},
		{"several blocks, first", 3*bs + 5, 0, bs},
		{"several blocks, last", 3*bs + 5, 3 * bs, 5},
		{"exactly a block", bs, 0, bs},
		{"past the hint", 10, 10, bs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &FileWriter{blockSize: bs, sizeHint: tt.hint, length: tt.written}
			if got := w.reservation(); got != tt.want {
				t.Errorf("reservation() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestWriter_SizeHintFitsSmallTier(t *testing.T) {
	// The only executor has room for less than a block: a file of known, small size fits
	// there through short-circuit; without the hint the block cannot be reserved up
	// front, so it is streamed and the executor takes it as it comes.
	c := clienttest.New(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{{Capacity: testBlockSize / 2}}})
	cl := newClient(t, c, nil)
	data := payload(testBlockSize/8, 8)
	writeFile(t, cl, "/small", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize, SizeHint: int64(len(data))})
	writeFile(t, cl, "/unknown", data, CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	for _, p := range []string{"/small", "/unknown"} {
		if got := readFile(t, cl, p, OpenOptions{}); !bytes.Equal(got, data) {
			t.Errorf("%s: read back wrong bytes", p)
		}
	}
	if got := cl.Stats().BytesWrittenShortCircuit; got != int64(len(data)) {
		t.Errorf("short-circuit wrote %d bytes, want the sized file's %d", got, len(data))
	}
	// What does not fit fails with ErrNoSpace, and leaves nothing.
	w, err := cl.Create(t.Context(), "/too-big", CreateOptions{WriteType: WriteMustCache, BlockSize: testBlockSize})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(payload(testBlockSize/2, 9))
	if err == nil {
		err = w.Close()
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Errorf("write beyond the tier: %v, want ErrNoSpace", err)
	}
	if _, err := cl.Stat(t.Context(), "/too-big"); !errors.Is(err, ErrNotFound) {
		t.Errorf("failed write left its file: %v", err)
	}
	if _, err := cl.Create(t.Context(), "/bad", CreateOptions{SizeHint: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("negative size hint: %v, want ErrInvalidArgument", err)
	}
}
