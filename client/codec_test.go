package client

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// split cuts b into buffers of the given sizes (cycled), as gRPC hands over the frames of
// one message.
func split(b []byte, sizes []int) mem.BufferSlice {
	var out mem.BufferSlice
	for i := 0; len(b) > 0; i++ {
		n := len(b)
		if len(sizes) > 0 && sizes[i%len(sizes)] > 0 {
			n = min(n, sizes[i%len(sizes)])
		}
		out = append(out, mem.SliceBuffer(b[:n]))
		b = b[n:]
	}
	return out
}

// decodeChunk decodes wire through a chunkCodec and returns the message with its data
// gathered from the segments.
func decodeChunk(wire []byte, sizes []int) (*sluicepb.ReadBlockChunk, error) {
	c := &chunkCodec{}
	m := &sluicepb.ReadBlockChunk{}
	if err := c.Unmarshal(split(wire, sizes), m); err != nil {
		return nil, err
	}
	var data []byte
	for _, s := range c.segs {
		data = append(data, s...)
	}
	if len(data) > 0 {
		m.Data = data
	}
	c.release()
	return m, nil
}

func TestChunkCodec_Decode(t *testing.T) {
	tests := []struct {
		name  string
		msg   *sluicepb.ReadBlockChunk
		sizes []int
	}{
		{"first chunk", &sluicepb.ReadBlockChunk{Offset: 0, Data: payload(100000, 1), BlockLength: 1 << 26, FromUfs: true, Tier: "MEM"}, []int{16384}},
		{"empty", &sluicepb.ReadBlockChunk{}, nil},
		{"empty range first chunk", &sluicepb.ReadBlockChunk{BlockLength: 5, Tier: "SSD"}, []int{1}},
		{"byte frames", &sluicepb.ReadBlockChunk{Offset: 1 << 40, Data: payload(300, 2)}, []int{1}},
		{"odd frames", &sluicepb.ReadBlockChunk{Offset: 12345, Data: payload(70000, 3), Tier: "HDD"}, []int{7, 16384, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeChunk(wire, tt.sizes)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, tt.msg) {
				t.Errorf("decoded %v, want %v", got, tt.msg)
			}
		})
	}
	// Unknown fields of every wire type are skipped.
	wire, _ := proto.Marshal(&sluicepb.ReadBlockChunk{Offset: 9, Data: []byte("abc")})
	wire = protowire.AppendTag(wire, 99, protowire.Fixed64Type)
	wire = protowire.AppendFixed64(wire, 1)
	wire = protowire.AppendTag(wire, 98, protowire.Fixed32Type)
	wire = protowire.AppendFixed32(wire, 1)
	wire = protowire.AppendTag(wire, 97, protowire.BytesType)
	wire = protowire.AppendBytes(wire, []byte("zz"))
	wire = protowire.AppendTag(wire, 96, protowire.VarintType)
	wire = protowire.AppendVarint(wire, 300)
	got, err := decodeChunk(wire, []int{2})
	if err != nil || got.GetOffset() != 9 || !bytes.Equal(got.GetData(), []byte("abc")) {
		t.Errorf("with unknown fields: %v, %v", got, err)
	}
	for _, bad := range [][]byte{{0x12, 0x05, 'a'}, {0x08}, {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, {0x0b}} {
		if _, err := decodeChunk(bad, nil); err == nil {
			t.Errorf("decoding %x succeeded", bad)
		}
	}
}

func TestChunkCodec_OtherMessages(t *testing.T) {
	c := &chunkCodec{}
	want := &sluicepb.ReadBlockRequest{BlockId: 7, Offset: 3}
	data, err := c.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got := &sluicepb.ReadBlockRequest{}
	if err := c.Unmarshal(data, got); err != nil || !proto.Equal(got, want) {
		t.Errorf("round trip = %v, %v", got, err)
	}
	if c.Name() != "proto" {
		t.Errorf("Name() = %q", c.Name())
	}
}

// FuzzChunkCodec checks that the zero-copy decoder agrees with proto.Unmarshal on any
// input split into any frames, and never panics.
func FuzzChunkCodec(f *testing.F) {
	seed, _ := proto.Marshal(&sluicepb.ReadBlockChunk{Offset: 5, Data: []byte("hello"), BlockLength: 10, FromUfs: true, Tier: "MEM"})
	f.Add(seed, 3)
	f.Add([]byte{0x12, 0x80}, 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, wire []byte, frame int) {
		got, err := decodeChunk(wire, []int{frame%64 + 1})
		want := &sluicepb.ReadBlockChunk{}
		werr := proto.Unmarshal(wire, want)
		if err != nil {
			// The decoder may be stricter than proto (it refuses group wire types),
			// never looser.
			return
		}
		if werr != nil {
			t.Fatalf("decoder accepted %x that proto rejects: %v", wire, werr)
		}
		want.ProtoReflect().SetUnknown(nil)
		if !proto.Equal(got, want) {
			t.Fatalf("decoded %v, proto decoded %v", got, want)
		}
	})
}
