package state

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// EntryType is the first byte of a journal entry; the protobuf payload follows it.
type EntryType uint8

// Ignorable is the flag bit of entry types that a master which does not know them may
// skip: they carry hints (access times), never namespace changes. Any other unknown type
// means this master is too old for its journal, and it stops rather than diverge.
const Ignorable EntryType = 0x80

// Entry types. Values are journal format: never renumber or reuse one.
const (
	EntryCreateFile          EntryType = 1
	EntryCompleteFile        EntryType = 2
	EntryCreateDirectory     EntryType = 3
	EntryDelete              EntryType = 4
	EntryRename              EntryType = 5
	EntrySetAttribute        EntryType = 6
	EntrySetPersistenceState EntryType = 7
	EntryMount               EntryType = 8
	EntryUnmount             EntryType = 9
	EntryLoadMetadata        EntryType = 10
	EntrySubmitJob           EntryType = 11
	EntryJobStateChanged     EntryType = 12
	EntryDeleteLineage       EntryType = 13
	EntryResetJobOutputs     EntryType = 14
	EntryJobOutputMismatch   EntryType = 15
	EntryUpdateAccessTime    EntryType = Ignorable | 1
)

// entryKind is one row of the dispatch table.
type entryKind struct {
	name  string
	new   func() proto.Message
	apply func(t *txn, m proto.Message) (Result, error)
}

// entryKinds is the dispatch table: how to decode and apply each entry type.
var entryKinds = map[EntryType]entryKind{
	EntryCreateFile: {"create_file", func() proto.Message { return new(sluicepb.CreateFileEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			return t.result(t.applyCreateFile(m.(*sluicepb.CreateFileEntry)))
		}},
	EntryCompleteFile: {"complete_file", func() proto.Message { return new(sluicepb.CompleteFileEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			return t.result1(t.applyCompleteFile(m.(*sluicepb.CompleteFileEntry)))
		}},
	EntryCreateDirectory: {"create_directory", func() proto.Message { return new(sluicepb.CreateDirectoryEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			return t.result(t.applyCreateDirectory(m.(*sluicepb.CreateDirectoryEntry)))
		}},
	EntryDelete: {"delete", func() proto.Message { return new(sluicepb.DeleteEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			removed, err := t.applyDelete(m.(*sluicepb.DeleteEntry))
			return Result{Removed: removed}, err
		}},
	EntryRename: {"rename", func() proto.Message { return new(sluicepb.RenameEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			return t.result1(t.applyRename(m.(*sluicepb.RenameEntry)))
		}},
	EntrySetAttribute: {"set_attribute", func() proto.Message { return new(sluicepb.SetAttributeEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			return t.result1(t.applySetAttribute(m.(*sluicepb.SetAttributeEntry)))
		}},
	EntrySetPersistenceState: {"set_persistence_state", func() proto.Message { return new(sluicepb.SetPersistenceStateEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			return t.result1(t.applySetPersistenceState(m.(*sluicepb.SetPersistenceStateEntry)))
		}},
	EntryMount: {"mount", func() proto.Message { return new(sluicepb.MountEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			return t.result1(t.applyMount(m.(*sluicepb.MountEntry)))
		}},
	EntryUnmount: {"unmount", func() proto.Message { return new(sluicepb.UnmountEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			removed, err := t.applyUnmount(m.(*sluicepb.UnmountEntry))
			return Result{Removed: removed}, err
		}},
	EntryLoadMetadata: {"load_metadata", func() proto.Message { return new(sluicepb.LoadMetadataEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			created, err := t.applyLoadMetadata(m.(*sluicepb.LoadMetadataEntry))
			if err != nil {
				return Result{}, err
			}
			return t.result(nil, created, nil)
		}},
	EntrySubmitJob:       lineageKinds[EntrySubmitJob],
	EntryJobStateChanged: lineageKinds[EntryJobStateChanged],
	EntryDeleteLineage:   lineageKinds[EntryDeleteLineage],
	// Recompute entries (recompute.go).
	EntryResetJobOutputs:   recomputeKinds[EntryResetJobOutputs],
	EntryJobOutputMismatch: recomputeKinds[EntryJobOutputMismatch],
	EntryUpdateAccessTime: {"update_access_time", func() proto.Message { return new(sluicepb.UpdateAccessTimeEntry) },
		func(t *txn, m proto.Message) (Result, error) {
			return t.result1(t.applyUpdateAccessTime(m.(*sluicepb.UpdateAccessTimeEntry)))
		}},
}

// String returns the entry type's name, as used in logs.
func (t EntryType) String() string {
	if k, ok := entryKinds[t]; ok {
		return k.name
	}
	return fmt.Sprintf("entry_type_%#02x", uint8(t))
}

// NewEntry returns an empty message of the payload type of t, or nil for an unknown type.
func NewEntry(t EntryType) proto.Message {
	k, ok := entryKinds[t]
	if !ok {
		return nil
	}
	return k.new()
}

// Encode returns the journal bytes of an entry: the type byte and the payload, marshalled
// deterministically. It fails with ErrInvalidArgument for an unknown type or a message of
// another type's payload.
func Encode(t EntryType, msg proto.Message) ([]byte, error) {
	k, ok := entryKinds[t]
	if !ok {
		return nil, fmt.Errorf("encode %v: unknown entry type: %w", t, ErrInvalidArgument)
	}
	if msg == nil || msg.ProtoReflect().Descriptor() != k.new().ProtoReflect().Descriptor() {
		return nil, fmt.Errorf("encode %v: payload %T: %w", t, msg, ErrInvalidArgument)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend([]byte{byte(t)}, msg)
	if err != nil {
		return nil, fmt.Errorf("encode %v: %v: %w", t, err, ErrInvalidArgument)
	}
	return b, nil
}

// Decode parses journal bytes. An unknown type with the Ignorable flag yields (t, nil,
// nil): skip it. An unknown type without it, or a payload that does not parse, fails
// with ErrCorruptEntry. Decode never panics.
func Decode(b []byte) (t EntryType, msg proto.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, msg, err = 0, nil, fmt.Errorf("decode: panic %v: %w", r, ErrCorruptEntry)
		}
	}()
	if len(b) == 0 {
		return 0, nil, fmt.Errorf("decode: empty entry: %w", ErrCorruptEntry)
	}
	t = EntryType(b[0])
	k, ok := entryKinds[t]
	if !ok {
		if t&Ignorable != 0 {
			return t, nil, nil
		}
		return t, nil, fmt.Errorf("decode: unknown entry type %#02x: %w", uint8(t), ErrCorruptEntry)
	}
	msg = k.new()
	if err := proto.Unmarshal(b[1:], msg); err != nil {
		return t, nil, fmt.Errorf("decode %v: %v: %w", t, err, ErrCorruptEntry)
	}
	return t, msg, nil
}

// mustDecode is Decode for the state machine: journal bytes it cannot read mean this
// replica would diverge from the others, so it panics.
func mustDecode(b []byte) (EntryType, proto.Message) {
	t, msg, err := Decode(b)
	if err != nil {
		panic(fmt.Sprintf("state: cannot apply journal entry: %v", err))
	}
	return t, msg
}
