package sluicepb

import (
	"errors"
	"fmt"
)

// A block ID encodes the file it belongs to and its place in that file:
//
//	blockID = fileID<<BlockIndexBits | index
//
// so a block's file is derivable from the ID alone. The low 24 bits hold the index (at most
// MaxBlocksPerFile blocks per file) and the high 40 bits the file's inode ID (at most
// MaxFileID). Both limits are part of the wire contract: masters never hand out larger file
// IDs, and a file needing more blocks must use a larger block size.
const (
	// BlockIndexBits is the number of low bits of a block ID that hold the block's index.
	BlockIndexBits = 24
	// FileIDBits is the number of high bits of a block ID that hold the file ID.
	FileIDBits = 64 - BlockIndexBits
	// MaxBlocksPerFile is the number of blocks a file may have; indexes run from 0 to
	// MaxBlocksPerFile-1.
	MaxBlocksPerFile = 1 << BlockIndexBits
	// MaxFileID is the largest file ID that fits in a block ID.
	MaxFileID uint64 = 1<<FileIDBits - 1

	blockIndexMask uint64 = MaxBlocksPerFile - 1
)

var (
	// ErrFileIDOverflow reports a file ID above MaxFileID.
	ErrFileIDOverflow = errors.New("sluicepb: file ID does not fit in a block ID")
	// ErrBlockIndexOverflow reports a block index of MaxBlocksPerFile or more.
	ErrBlockIndexOverflow = errors.New("sluicepb: block index does not fit in a block ID")
)

// CheckBlockID reports whether fileID and index can form a block ID: it returns an error
// wrapping ErrFileIDOverflow or ErrBlockIndexOverflow when one of them has too many bits,
// and nil otherwise. Use it (or MakeBlockID) on values that come from outside the process.
func CheckBlockID(fileID uint64, index uint32) error {
	if fileID > MaxFileID {
		return fmt.Errorf("file ID %d exceeds %d bits: %w", fileID, FileIDBits, ErrFileIDOverflow)
	}
	if index >= MaxBlocksPerFile {
		return fmt.Errorf("block index %d exceeds %d bits: %w", index, BlockIndexBits, ErrBlockIndexOverflow)
	}
	return nil
}

// MakeBlockID returns the ID of block index of file fileID, or the error of CheckBlockID.
func MakeBlockID(fileID uint64, index uint32) (uint64, error) {
	if err := CheckBlockID(fileID, index); err != nil {
		return 0, err
	}
	return fileID<<BlockIndexBits | uint64(index), nil
}

// NewBlockID returns the ID of block index of file fileID. It panics when CheckBlockID
// rejects the arguments, since an overflowing ID would silently name another file's block;
// callers holding untrusted values use MakeBlockID instead.
func NewBlockID(fileID uint64, index uint32) uint64 {
	id, err := MakeBlockID(fileID, index)
	if err != nil {
		panic(err)
	}
	return id
}

// BlockFileID returns the ID of the file that block blockID belongs to.
func BlockFileID(blockID uint64) uint64 {
	return blockID >> BlockIndexBits
}

// BlockIndex returns the position of block blockID within its file, counting from 0.
func BlockIndex(blockID uint64) uint32 {
	return uint32(blockID & blockIndexMask)
}
