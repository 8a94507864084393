package master

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// fileInfo converts an inode to its wire form, with the UFS URI it resolves to and the
// share of its bytes cached in executors.
func (m *Master) fileInfo(v *state.View, in state.Inode) *sluicepb.FileInfo {
	fi := &sluicepb.FileInfo{
		FileId:             in.ID,
		Path:               in.Path,
		Name:               in.Name,
		IsDir:              in.Directory,
		Length:             in.Length,
		BlockSize:          in.BlockSize,
		State:              sluicepb.FileState_FILE_STATE_COMPLETE,
		PersistenceState:   persistenceToWire(in.PersistenceState),
		Owner:              in.Owner,
		Group:              in.Group,
		Mode:               in.Mode,
		Pinned:             in.Pinned,
		TtlMs:              in.TTLMs,
		TtlAction:          ttlToWire(in.TTLAction),
		CreationTimeMs:     in.CreationTimeMs,
		ModificationTimeMs: in.ModificationTimeMs,
		LastAccessTimeMs:   in.AccessTimeMs,
		MountPoint:         in.MountPoint,
		ParentId:           in.ParentID,
	}
	if in.JobID != 0 {
		fi.JobId = strconv.FormatUint(in.JobID, 10)
	}
	if r, err := v.Resolve(in.Path); err == nil {
		fi.UfsPath = ufsURI(r.UFSURI, r.UFSPath)
		fi.MountId = r.MountID
	}
	if in.IsFile() {
		if !in.Complete {
			fi.State = sluicepb.FileState_FILE_STATE_INCOMPLETE
		}
		fi.BlockIds = in.BlockIDs()
		if crc, ok := parseChecksum(in.Checksum); ok {
			fi.ContentCrc32C = &crc
		}
		fi.InMemoryPercent = m.inMemoryPercent(in)
	}
	return fi
}

// inMemoryPercent is the share of a complete file's bytes with a cached copy.
func (m *Master) inMemoryPercent(in state.Inode) int32 {
	if !in.Complete || in.Length == 0 {
		if in.Complete {
			return 100
		}
		return 0
	}
	var cached int64
	for i, id := range in.BlockIDs() {
		if len(m.blocks.locations(id)) > 0 {
			cached += blockLen(in, i)
		}
	}
	return int32(cached * 100 / in.Length)
}

// blockLen is the length of block i of a complete file.
func blockLen(in state.Inode, i int) int64 {
	off := int64(i) * in.BlockSize
	return min(in.BlockSize, in.Length-off)
}

// checksum formats a whole-file CRC32C as the state's opaque checksum.
func checksum(crc *uint32) string {
	if crc == nil {
		return ""
	}
	return fmt.Sprintf("crc32c:%08x", *crc)
}

// parseChecksum reads back a checksum written by checksum.
func parseChecksum(s string) (uint32, bool) {
	hexs, ok := strings.CutPrefix(s, "crc32c:")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(hexs, 16, 32)
	return uint32(v), err == nil
}

func persistenceToWire(s state.PersistenceState) sluicepb.PersistenceState {
	switch s {
	case state.ToBePersisted:
		return sluicepb.PersistenceState_PERSISTENCE_STATE_TO_BE_PERSISTED
	case state.Persisted:
		return sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED
	case state.Lost:
		return sluicepb.PersistenceState_PERSISTENCE_STATE_LOST
	}
	return sluicepb.PersistenceState_PERSISTENCE_STATE_NOT_PERSISTED
}

func ttlToWire(a state.TTLAction) sluicepb.TtlAction {
	if a == state.TTLFree {
		return sluicepb.TtlAction_TTL_ACTION_FREE
	}
	return sluicepb.TtlAction_TTL_ACTION_DELETE
}

// ttlToJournal converts a wire TTL action (UNSPECIFIED means DELETE).
func ttlToJournal(a sluicepb.TtlAction) (sluicepb.JournalTtlAction, error) {
	switch a {
	case sluicepb.TtlAction_TTL_ACTION_UNSPECIFIED, sluicepb.TtlAction_TTL_ACTION_DELETE:
		return sluicepb.JournalTtlAction_JOURNAL_TTL_ACTION_DELETE, nil
	case sluicepb.TtlAction_TTL_ACTION_FREE:
		return sluicepb.JournalTtlAction_JOURNAL_TTL_ACTION_FREE, nil
	}
	return 0, invalidf("TTL action %v", a)
}

// cleanPath validates a request path and returns its clean form; errors wrap
// ErrInvalidPath.
func cleanPath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("empty path: %w", ErrInvalidPath)
	}
	c, err := state.ValidatePath(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidPath, err)
	}
	return c, nil
}

// parseJobID reads a lineage job ID ("" is none).
func parseJobID(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, invalidf("job ID %q is not a positive decimal number", s)
	}
	return id, nil
}
