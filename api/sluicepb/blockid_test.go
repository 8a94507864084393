package sluicepb

import (
	"errors"
	"testing"
)

func TestNewBlockID(t *testing.T) {
	tests := []struct {
		name   string
		fileID uint64
		index  uint32
		want   uint64
	}{
		{name: "zero", fileID: 0, index: 0, want: 0},
		{name: "first block of file 1", fileID: 1, index: 0, want: 1 << 24},
		{name: "third block of file 1", fileID: 1, index: 2, want: 1<<24 | 2},
		{name: "last index", fileID: 7, index: MaxBlocksPerFile - 1, want: 7<<24 | 0xFFFFFF},
		{name: "largest file ID", fileID: MaxFileID, index: 5, want: 0xFFFFFFFFFF000005},
		{name: "largest ID", fileID: MaxFileID, index: MaxBlocksPerFile - 1, want: ^uint64(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewBlockID(tt.fileID, tt.index)
			if got != tt.want {
				t.Fatalf("NewBlockID(%d, %d) = %#x, want %#x", tt.fileID, tt.index, got, tt.want)
			}
			if f := BlockFileID(got); f != tt.fileID {
				t.Errorf("BlockFileID(%#x) = %d, want %d", got, f, tt.fileID)
			}
			if i := BlockIndex(got); i != tt.index {
				t.Errorf("BlockIndex(%#x) = %d, want %d", got, i, tt.index)
			}
		})
	}
}

func TestMakeBlockID_Overflow(t *testing.T) {
	tests := []struct {
		name    string
		fileID  uint64
		index   uint32
		wantErr error
	}{
		{name: "file ID one past the limit", fileID: MaxFileID + 1, index: 0, wantErr: ErrFileIDOverflow},
		{name: "file ID all bits", fileID: ^uint64(0), index: 0, wantErr: ErrFileIDOverflow},
		{name: "index at the limit", fileID: 1, index: MaxBlocksPerFile, wantErr: ErrBlockIndexOverflow},
		{name: "index all bits", fileID: 1, index: ^uint32(0), wantErr: ErrBlockIndexOverflow},
		{name: "both overflow reports the file ID", fileID: MaxFileID + 1, index: MaxBlocksPerFile, wantErr: ErrFileIDOverflow},
		{name: "valid", fileID: MaxFileID, index: MaxBlocksPerFile - 1, wantErr: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := MakeBlockID(tt.fileID, tt.index)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("MakeBlockID(%d, %d) error = %v, want %v", tt.fileID, tt.index, err, tt.wantErr)
			}
			if checkErr := CheckBlockID(tt.fileID, tt.index); !errors.Is(checkErr, tt.wantErr) || (checkErr == nil) != (err == nil) {
				t.Errorf("CheckBlockID(%d, %d) = %v, want %v", tt.fileID, tt.index, checkErr, tt.wantErr)
			}
			if err != nil && id != 0 {
				t.Errorf("MakeBlockID(%d, %d) = %#x with error, want 0", tt.fileID, tt.index, id)
			}
		})
	}
}

func TestNewBlockID_PanicsOnOverflow(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, ErrBlockIndexOverflow) {
			t.Fatalf("NewBlockID with an overflowing index: recovered %v, want an error wrapping ErrBlockIndexOverflow", r)
		}
	}()
	id := NewBlockID(3, MaxBlocksPerFile)
	t.Fatalf("NewBlockID(3, MaxBlocksPerFile) = %#x, want a panic", id)
}

// FuzzBlockID checks that every valid (file ID, index) pair round-trips through a block ID,
// that every invalid pair is rejected with the right sentinel, and that every block ID
// decodes into a pair that encodes back to it.
func FuzzBlockID(f *testing.F) {
	f.Add(uint64(0), uint32(0))
	f.Add(uint64(1), uint32(2))
	f.Add(MaxFileID, uint32(MaxBlocksPerFile-1))
	f.Add(MaxFileID+1, uint32(0))
	f.Add(uint64(5), uint32(MaxBlocksPerFile))
	f.Add(^uint64(0), ^uint32(0))
	f.Fuzz(func(t *testing.T, fileID uint64, index uint32) {
		id, err := MakeBlockID(fileID, index)
		switch {
		case fileID > MaxFileID:
			if !errors.Is(err, ErrFileIDOverflow) {
				t.Fatalf("MakeBlockID(%d, %d) error = %v, want ErrFileIDOverflow", fileID, index, err)
			}
		case index >= MaxBlocksPerFile:
			if !errors.Is(err, ErrBlockIndexOverflow) {
				t.Fatalf("MakeBlockID(%d, %d) error = %v, want ErrBlockIndexOverflow", fileID, index, err)
			}
		default:
			if err != nil {
				t.Fatalf("MakeBlockID(%d, %d) error = %v, want nil", fileID, index, err)
			}
			if BlockFileID(id) != fileID || BlockIndex(id) != index {
				t.Fatalf("MakeBlockID(%d, %d) = %#x decodes to (%d, %d)", fileID, index, id, BlockFileID(id), BlockIndex(id))
			}
		}

		// Any 64-bit value is a block ID: decoding then encoding gives it back.
		raw := fileID ^ uint64(index)<<17
		if back := NewBlockID(BlockFileID(raw), BlockIndex(raw)); back != raw {
			t.Fatalf("block ID %#x decodes to (%d, %d), which encodes to %#x", raw, BlockFileID(raw), BlockIndex(raw), back)
		}
	})
}
