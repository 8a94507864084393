package clienttest

import (
	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// sendCodec is the fake servers' codec: the standard proto codec, except that the data of
// a ReadBlockChunk is not copied into the wire buffer but handed to gRPC, which returns
// it to chunkPool once written. The fake executor therefore sends every chunk in a buffer
// from chunkPool and never touches it after Send, as a real executor's data plane would;
// this keeps the fake from dominating the client's streaming benchmarks.
type sendCodec struct{}

var (
	protoCodec = encoding.GetCodecV2(protoenc.Name)
	chunkPool  = mem.DefaultBufferPool()
)

func (sendCodec) Name() string { return protoenc.Name }

func (sendCodec) Unmarshal(data mem.BufferSlice, v any) error { return protoCodec.Unmarshal(data, v) }

func (sendCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*sluicepb.ReadBlockChunk)
	if !ok || len(m.GetData()) == 0 {
		return protoCodec.Marshal(v)
	}
	head := &sluicepb.ReadBlockChunk{Offset: m.GetOffset(), BlockLength: m.GetBlockLength(), FromUfs: m.GetFromUfs(), Tier: m.GetTier()}
	b, err := proto.MarshalOptions{}.MarshalAppend(make([]byte, 0, 48), head)
	if err != nil {
		return nil, err
	}
	data := m.GetData()
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(data)))
	return mem.BufferSlice{mem.SliceBuffer(b), mem.NewBuffer(&data, chunkPool)}, nil
}
