package state

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// sampleEntries returns one valid entry of every type.
func sampleEntries() map[EntryType]proto.Message {
	ids := &sluicepb.JournalIdRange{First: 7, Count: 3}
	return map[EntryType]proto.Message{
		EntryCreateFile:          &sluicepb.CreateFileEntry{Path: "/a", Ids: ids, BlockSize: 64, JobId: 3, TtlMs: 9},
		EntryCompleteFile:        &sluicepb.CompleteFileEntry{Id: 7, Length: 10, Checksum: "crc32c:01"},
		EntryCreateDirectory:     &sluicepb.CreateDirectoryEntry{Path: "/d", Ids: ids, Recursive: true},
		EntryDelete:              &sluicepb.DeleteEntry{Path: "/a", Recursive: true},
		EntryRename:              &sluicepb.RenameEntry{Src: "/a", Dst: "/b"},
		EntrySetAttribute:        &sluicepb.SetAttributeEntry{Path: "/a", Pinned: proto.Bool(false), Mode: proto.Uint32(0)},
		EntrySetPersistenceState: &sluicepb.SetPersistenceStateEntry{Id: 7, State: sluicepb.JournalPersistenceState_JOURNAL_PERSISTENCE_STATE_LOST},
		EntryMount:               &sluicepb.MountEntry{Path: "/m", UfsUri: "s3://b", Options: map[string]string{"b": "2", "a": "1"}},
		EntryUnmount:             &sluicepb.UnmountEntry{Path: "/m"},
		EntryLoadMetadata:        &sluicepb.LoadMetadataEntry{Inodes: []*sluicepb.LoadedInode{{Id: 9, Path: "/x"}}, LoadedDirs: []string{"/"}},
		EntryUpdateAccessTime:    &sluicepb.UpdateAccessTimeEntry{Id: 7, TimeMs: 1},
		EntrySubmitJob: &sluicepb.SubmitJobEntry{JobId: 1, Ids: ids, BlockSize: 64, Spec: &sluicepb.JournalJobSpec{
			Name: "wc", Command: []string{"wc"}, Inputs: []string{"/in"}, Outputs: []string{"/out"}, Env: map[string]string{"b": "2", "a": "1"}}},
		EntryJobStateChanged: &sluicepb.JobStateChangedEntry{JobId: 1, Attempt: 1, State: sluicepb.JournalJobState_JOURNAL_JOB_STATE_COMPLETED,
			RunTimeMs: 5, OutputFacts: []*sluicepb.JournalOutputFact{{Path: "/out", FileId: 7, Length: 3}}},
		EntryDeleteLineage:     &sluicepb.DeleteLineageEntry{JobId: 1, Cascade: true},
		EntryResetJobOutputs:   &sluicepb.ResetJobOutputsEntry{JobId: 1, TimeMs: 2},
		EntryJobOutputMismatch: &sluicepb.JobOutputMismatchEntry{JobId: 1, Attempt: 2, Message: "differs"},
	}
}

func TestCodec_RoundTrip(t *testing.T) {
	samples := sampleEntries()
	if len(samples) != len(entryKinds) {
		t.Fatalf("%d samples for %d entry types", len(samples), len(entryKinds))
	}
	for typ, msg := range samples {
		t.Run(typ.String(), func(t *testing.T) {
			b, err := Encode(typ, msg)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != byte(typ) {
				t.Errorf("type byte %#x, want %#x", b[0], byte(typ))
			}
			b2, _ := Encode(typ, msg)
			if string(b) != string(b2) {
				t.Error("encoding is not deterministic")
			}
			gt, got, err := Decode(b)
			if err != nil || gt != typ || !proto.Equal(got, msg) {
				t.Errorf("Decode = %v, %v, %v; want %v, %v", gt, got, err, typ, msg)
			}
		})
	}
}

func TestCodec_Errors(t *testing.T) {
	if _, err := Encode(EntryDelete, &sluicepb.RenameEntry{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Encode(mismatched payload) = %v", err)
	}
	if _, err := Encode(99, &sluicepb.RenameEntry{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Encode(unknown type) = %v", err)
	}
	if _, err := Encode(EntryDelete, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Encode(nil) = %v", err)
	}
	tests := []struct {
		name string
		in   []byte
		typ  EntryType
		err  error
	}{
		{"empty", nil, 0, ErrCorruptEntry},
		{"unknown", []byte{0x7f, 1, 2}, 0x7f, ErrCorruptEntry},
		{"unknown ignorable", []byte{0xfe, 0xff, 0xff}, 0xfe, nil},
		{"bad payload", []byte{byte(EntryDelete), 0x0a, 0x05, 'a'}, EntryDelete, ErrCorruptEntry},
		{"bad UTF-8", append([]byte{byte(EntryDelete), 0x0a, 0x01}, 0xff), EntryDelete, ErrCorruptEntry},
		{"empty payload", []byte{byte(EntryDelete)}, EntryDelete, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, msg, err := Decode(tt.in)
			if typ != tt.typ || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("Decode = %v, %v, %v; want %v, %v", typ, msg, err, tt.typ, tt.err)
			}
		})
	}
}

func TestState_ApplyCorruptPanics(t *testing.T) {
	s := New()
	for _, b := range [][]byte{nil, {0x7f}, {byte(EntryDelete), 0x0a, 0x05}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Apply(%x) did not panic", b)
				}
			}()
			s.Apply(1, b)
		}()
	}
	// An unknown ignorable entry is skipped, and still advances the applied index.
	if r := s.Apply(5, []byte{0xfe, 1}); r.Err != nil || s.View().AppliedIndex() != 5 {
		t.Errorf("ignorable entry: %v, applied %d", r.Err, s.View().AppliedIndex())
	}
	if r := s.ApplyEntry(6, EntryDelete, &sluicepb.RenameEntry{}); !errors.Is(r.Err, ErrInvalidArgument) {
		t.Errorf("ApplyEntry(mismatch) = %v", r.Err)
	}
}

func FuzzDecode(f *testing.F) {
	for typ, msg := range sampleEntries() {
		b, err := Encode(typ, msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, msg, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptEntry) {
				t.Fatalf("Decode error %v does not wrap ErrCorruptEntry", err)
			}
			return
		}
		if msg == nil {
			if typ&Ignorable == 0 || NewEntry(typ) != nil {
				t.Fatalf("Decode(%x) = %v with no message", b, typ)
			}
			return
		}
		again, err := Encode(typ, msg)
		if err != nil {
			t.Fatalf("Encode(Decode(%x)): %v", b, err)
		}
		typ2, msg2, err := Decode(again)
		if err != nil || typ2 != typ || !proto.Equal(msg, msg2) {
			t.Fatalf("re-decode of %x: %v %v %v", b, typ2, msg2, err)
		}
		// Whatever decodes, the state applies without panicking.
		New().ApplyEntry(1, typ, msg)
	})
}
