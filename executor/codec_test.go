package executor

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestChunkCodec(t *testing.T) {
	pool := &bufPool{size: 4096}
	c := newChunkCodec(pool)
	pooled := func(n int) []byte {
		b := (*pool.Get(4096))[:n]
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	}
	tests := []struct {
		name string
		msg  proto.Message
	}{
		{"pooled chunk with first-chunk fields", &sluicepb.ReadBlockChunk{Offset: 5, Data: pooled(4000), BlockLength: 99999, FromUfs: true, Tier: "MEM"}},
		{"pooled full chunk", &sluicepb.ReadBlockChunk{Offset: 1 << 40, Data: pooled(4096)}},
		{"chunk of another size", &sluicepb.ReadBlockChunk{Offset: 1, Data: make([]byte, 100)}},
		{"empty chunk", &sluicepb.ReadBlockChunk{BlockLength: 0, Tier: "SSD"}},
		{"other message", &sluicepb.ReadBlockRequest{BlockId: 3, Offset: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := proto.Clone(tt.msg)
			bs, err := c.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			got := want.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(bs.Materialize(), got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			bs.Free()
			if d := cmp.Diff(want, got, protocmp.Transform()); d != "" {
				t.Fatalf("round trip (-want +got):\n%s", d)
			}
		})
	}
	// Freed pooled chunks come back whole.
	if b := pool.Get(4096); len(*b) != 4096 {
		t.Fatalf("pool gave %d bytes", len(*b))
	}
}

func TestUnmarshalChunk(t *testing.T) {
	full := &sluicepb.ReadBlockChunk{Offset: 77, Data: []byte("payload"), BlockLength: 1 << 33, FromUfs: true, Tier: "HDD"}
	wire, err := proto.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	// An unknown field (number 9, varint) is skipped.
	withUnknown := append(protowire.AppendTag(slices.Clone(wire), 9, protowire.VarintType), 5)
	tests := []struct {
		name string
		wire []byte
		want *sluicepb.ReadBlockChunk
		ok   bool
	}{
		{"all fields", wire, full, true},
		{"unknown field", withUnknown, full, true},
		{"empty", nil, &sluicepb.ReadBlockChunk{}, true},
		{"truncated", wire[:len(wire)-2], nil, false},
		{"bad tag", []byte{0xff}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := &sluicepb.ReadBlockChunk{Offset: 1, Tier: "stale"}
			err := unmarshalChunk(tt.wire, got)
			if (err == nil) != tt.ok {
				t.Fatalf("unmarshalChunk: %v", err)
			}
			if !tt.ok {
				return
			}
			if d := cmp.Diff(tt.want, got, protocmp.Transform()); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
	// Through the codec, as gRPC calls it.
	got := &sluicepb.ReadBlockChunk{}
	if err := newChunkCodec(&bufPool{size: 64}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire[:3]), mem.SliceBuffer(wire[3:])}, got); err != nil || !proto.Equal(got, full) {
		t.Fatalf("codec Unmarshal: %v, %v", got, err)
	}
}

// FuzzUnmarshalChunk checks that unmarshalChunk never panics and agrees with proto on
// what both accept.
func FuzzUnmarshalChunk(f *testing.F) {
	w, _ := proto.Marshal(&sluicepb.ReadBlockChunk{Offset: 3, Data: []byte("abc"), Tier: "MEM"})
	f.Add(w)
	f.Add([]byte{0x12, 0x80})
	f.Fuzz(func(t *testing.T, wire []byte) {
		got := &sluicepb.ReadBlockChunk{}
		err := unmarshalChunk(wire, got)
		want := &sluicepb.ReadBlockChunk{}
		perr := proto.Unmarshal(wire, want)
		want.ProtoReflect().SetUnknown(nil) // unmarshalChunk skips unknown fields
		if err == nil && perr == nil && !proto.Equal(got, want) {
			t.Fatalf("unmarshalChunk %v, proto %v", got, want)
		}
	})
}
