package state

import (
	"fmt"
	"math"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// Inode IDs. Block IDs are sluicepb's: fileID<<24 | index (sluicepb.NewBlockID).
const (
	// RootID is the inode ID of "/". It exists in every state, from New on.
	RootID uint64 = 1
	// FirstID is the first ID the leader hands out.
	FirstID uint64 = 2
	// MaxID is the largest inode ID: one that still fits in a block ID.
	MaxID = sluicepb.MaxFileID
	// MaxBlocksPerFile is the number of block indexes a block ID can hold.
	MaxBlocksPerFile = sluicepb.MaxBlocksPerFile
)

// PersistenceState is where an inode's data stands with respect to the UFS.
type PersistenceState uint8

// Persistence states, in the order of the journal enum.
const (
	NotPersisted  PersistenceState = PersistenceState(sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_NOT_PERSISTED)
	ToBePersisted PersistenceState = PersistenceState(sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_TO_BE_PERSISTED)
	Persisted     PersistenceState = PersistenceState(sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_PERSISTED)
	Lost          PersistenceState = PersistenceState(sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_LOST)
)

func (s PersistenceState) String() string {
	switch s {
	case NotPersisted:
		return "NOT_PERSISTED"
	case ToBePersisted:
		return "TO_BE_PERSISTED"
	case Persisted:
		return "PERSISTED"
	case Lost:
		return "LOST"
	}
	return fmt.Sprintf("PersistenceState(%d)", uint8(s))
}

func (s PersistenceState) valid() bool { return s <= Lost }

// TTLAction is what the master does to an inode whose TTL has expired.
type TTLAction uint8

// TTL actions, in the order of the journal enum.
const (
	TTLDelete TTLAction = TTLAction(sluicepb.JournalTtlAction_JOURNAL_TTL_ACTION_DELETE)
	TTLFree   TTLAction = TTLAction(sluicepb.JournalTtlAction_JOURNAL_TTL_ACTION_FREE)
)

func (a TTLAction) String() string {
	switch a {
	case TTLDelete:
		return "DELETE"
	case TTLFree:
		return "FREE"
	}
	return fmt.Sprintf("TTLAction(%d)", uint8(a))
}

func (a TTLAction) valid() bool { return a <= TTLFree }

// Inode is a file or directory of the namespace. Values handed out by queries are
// copies: changing one changes nothing in the state.
type Inode struct {
	ID       uint64
	ParentID uint64 // 0 for the root
	Name     string // "" for the root
	// Path is the absolute path of the inode when the query that returned it was
	// answered. It is not stored: a rename of an ancestor changes it.
	Path      string
	Directory bool

	Owner string
	Group string
	Mode  uint32 // permission bits, at most 07777

	CreationTimeMs     int64
	ModificationTimeMs int64
	AccessTimeMs       int64 // last recorded read, 0 if none

	Pinned bool
	// TTLMs is the time to live counted from CreationTimeMs, as in Alluxio; 0 is none.
	TTLMs     int64
	TTLAction TTLAction

	PersistenceState PersistenceState
	// UFSPath is where the data lives within the FS of the inode's mount (the mount's
	// root is "/"); set for PERSISTED inodes and kept in step by Rename.
	UFSPath        string
	UFSFingerprint string

	// MountPoint is set on the directory a UFS is mounted at (and on "/").
	MountPoint bool
	// ChildrenLoaded is set on a directory once all its UFS children are known: it was
	// created by Sluice, or a LoadMetadata entry named it.
	ChildrenLoaded bool

	// Files only.
	Length    int64
	BlockSize int64
	Complete  bool   // false: INCOMPLETE (being written), true: COMPLETE (write-once)
	JobID     uint64 // producing lineage job, 0 for none
	Checksum  string // opaque, "algorithm:hex", empty if not recorded
}

// IsFile reports whether the inode is a file.
func (in *Inode) IsFile() bool { return !in.Directory }

// BlockCount returns the number of blocks of a complete file: its length divided by its
// block size, rounded up. Incomplete files and directories have none.
func (in *Inode) BlockCount() int64 {
	if in.Directory || !in.Complete || in.BlockSize <= 0 {
		return 0
	}
	return (in.Length + in.BlockSize - 1) / in.BlockSize
}

// BlockIDs returns the IDs of the blocks of a complete file, in order. They are derived
// from the file ID and length, so they are not stored.
func (in *Inode) BlockIDs() []uint64 {
	n := in.BlockCount()
	ids := make([]uint64, n)
	for i := range n {
		ids[i] = sluicepb.NewBlockID(in.ID, uint32(i))
	}
	return ids
}

// ExpiryMs returns when the inode's TTL expires, and false if it has none.
func (in *Inode) ExpiryMs() (int64, bool) {
	if in.TTLMs <= 0 {
		return 0, false
	}
	if in.TTLMs > math.MaxInt64-in.CreationTimeMs {
		return math.MaxInt64, true // never, in practice
	}
	return in.CreationTimeMs + in.TTLMs, true
}

// blocksFor returns the number of blocks a file of length bytes needs, checking that
// its block IDs fit.
func blocksFor(length, blockSize int64) (int64, error) {
	if length < 0 || blockSize <= 0 {
		return 0, fmt.Errorf("length %d, block size %d: %w", length, blockSize, ErrInvalidArgument)
	}
	n := length / blockSize
	if length%blockSize != 0 {
		n++
	}
	if n > MaxBlocksPerFile {
		return 0, fmt.Errorf("length %d needs %d blocks of %d bytes, more than %d: %w",
			length, n, blockSize, MaxBlocksPerFile, ErrInvalidArgument)
	}
	return n, nil
}

// ttlActionFrom converts a journal enum; values out of range become an invalid action.
func ttlActionFrom(x sluicepb.JournalTtlAction) TTLAction {
	if x < 0 || x > 0xff {
		return 0xff
	}
	return TTLAction(x)
}

// persistenceFrom converts a journal enum; values out of range become an invalid state.
func persistenceFrom(x sluicepb.JournalPersistenceState) PersistenceState {
	if x < 0 || x > 0xff {
		return 0xff
	}
	return PersistenceState(x)
}
