package blocks_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicedata/sluice/blocks"
	"github.com/sluicedata/sluice/blocks/blockstest"
)

// recycledStore returns a Store whose MEM directory holds one recycled file of size
// bytes, mapped (read once) when mapped is set.
func recycledStore(t *testing.T, size int, mapped bool) *blocks.Store {
	t.Helper()
	s := blockstest.Open(t, blockstest.Config(t, 16*mib))
	blockstest.Write(t, s, 1, blockstest.Data(1, size), blocks.CreateOptions{})
	if mapped {
		if _, err := blockstest.ReadAll(s, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Remove(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Usage()[0].Dirs[0].Recycled; got != int64(size) {
		t.Fatalf("recycled %d, want %d", got, size)
	}
	return s
}

func TestTempBlock_PrepareDirect(t *testing.T) {
	tests := []struct {
		name      string
		recycled  int  // size of the recycled file (0: none)
		mapped    bool // the recycled file is mapped
		reserve   int64
		data      int  // bytes the client writes
		length    int  // length it reports (-1: none)
		replace   bool // the client replaces the file (write and rename)
		prefilled int64
		wantErr   error
	}{
		{name: "fresh file", reserve: 4 * mib, data: 3 * mib, length: 3 * mib},
		{name: "recycled mapped, shorter write", recycled: 4 * mib, mapped: true, reserve: 4 * mib, data: 3*mib + 5, length: 3*mib + 5, prefilled: 4 * mib},
		{name: "recycled unmapped", recycled: 4 * mib, reserve: 4 * mib, data: mib + 1, length: mib + 1, prefilled: 4 * mib},
		{name: "recycled cut to the reservation", recycled: 6 * mib, mapped: true, reserve: 2 * mib, data: 2 * mib, length: 2 * mib, prefilled: 2 * mib},
		{name: "write past the mapping", recycled: 2 * mib, mapped: true, reserve: 2 * mib, data: 3*mib + 7, length: 3*mib + 7, prefilled: 2 * mib},
		{name: "file replaced", recycled: 4 * mib, mapped: true, reserve: 4 * mib, data: 1000, length: 1000, replace: true, prefilled: 4 * mib},
		{name: "small reservation takes no recycled file", recycled: 4 * mib, mapped: true, reserve: 1000, data: 1000, length: 1000},
		{name: "no length: the whole file", recycled: 4 * mib, mapped: true, reserve: 4 * mib, data: 4 * mib, length: -1, prefilled: 4 * mib},
		{name: "file shorter than reported", reserve: mib, data: 1000, length: 1001, wantErr: blocks.ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s *blocks.Store
			if tc.recycled > 0 {
				s = recycledStore(t, tc.recycled, tc.mapped)
			} else {
				s = blockstest.Open(t, blockstest.Config(t, 16*mib))
			}
			tb, err := s.CreateTemp(t.Context(), 2, tc.reserve, blocks.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := tb.PrepareDirect(); got != tc.prefilled {
				t.Errorf("PrepareDirect = %d, want %d", got, tc.prefilled)
			}
			if got := tb.PrepareDirect(); got != tc.prefilled {
				t.Errorf("second PrepareDirect = %d, want %d", got, tc.prefilled)
			}
			if fi, err := os.Stat(tb.Path()); err != nil || fi.Size() != tc.prefilled {
				t.Errorf("file before the write: %v, %v; want %d bytes", fi, err, tc.prefilled)
			}
			data := blockstest.Data(7, tc.data)
			if tc.replace {
				tmp := filepath.Join(filepath.Dir(tb.Path()), "replacement")
				blockstest.Overwrite(t, tmp, data)
				if err := os.Rename(tmp, tb.Path()); err != nil {
					t.Fatal(err)
				}
			} else {
				blockstest.Overwrite(t, tb.Path(), data)
			}
			if tc.length >= 0 {
				tb.SetLength(int64(tc.length))
			}
			tb.ExpectChecksum(blockstest.Checksum(data))
			m, err := tb.Commit(t.Context())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Commit: %v, want %v", err, tc.wantErr)
			}
			if err == nil {
				if m.Size != int64(len(data)) || m.Checksum != blockstest.Checksum(data) {
					t.Errorf("meta %+v, want size %d checksum %08x", m, len(data), blockstest.Checksum(data))
				}
				if got, err := blockstest.ReadAll(s, 2); err != nil || !bytes.Equal(got, data) {
					t.Errorf("read back: %v, equal %v", err, bytes.Equal(got, data))
				}
			} else if _, err := s.Stat(2); !errors.Is(err, blocks.ErrNotFound) {
				t.Errorf("Stat after a failed commit: %v, want ErrNotFound", err)
			}
			if err := s.CheckInvariants(true, nil); err != nil {
				t.Error(err)
			}
		})
	}
}

// A client that wrote other bytes than it checksummed fails the commit, also when the
// Store verifies through the mapping of a recycled file.
func TestTempBlock_PrepareDirectVerifies(t *testing.T) {
	s := recycledStore(t, 4*mib, true)
	tb, err := s.CreateTemp(t.Context(), 2, 4*mib, blocks.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tb.PrepareDirect() == 0 {
		t.Fatal("no recycled file handed over")
	}
	data := blockstest.Data(7, 3*mib)
	blockstest.Overwrite(t, tb.Path(), data)
	data[mib] ^= 1
	tb.SetLength(int64(len(data)))
	tb.ExpectChecksum(blockstest.Checksum(data))
	if _, err := tb.Commit(t.Context()); !errors.Is(err, blocks.ErrCorrupt) {
		t.Errorf("Commit of other bytes than checksummed: %v, want ErrCorrupt", err)
	}
	if err := s.CheckInvariants(true, nil); err != nil {
		t.Error(err)
	}
}
