package executor

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
