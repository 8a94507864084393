package executor

import (
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// bufPool recycles chunk buffers of one size; Get of another size allocates and Put of
// another capacity drops the buffer. It is a mem.BufferPool so that gRPC can give a
// chunk's buffer back once it has written it to the connection.
type bufPool struct {
	size int
	pool sync.Pool
}

var _ mem.BufferPool = (*bufPool)(nil)

// Get returns a buffer of length n.
func (p *bufPool) Get(n int) *[]byte {
	if n == p.size {
		if b, ok := p.pool.Get().(*[]byte); ok {
			*b = (*b)[:n]
			return b
		}
	}
	b := make([]byte, n)
	return &b
}

// Put recycles a buffer of the pool's size.
func (p *bufPool) Put(b *[]byte) {
	if cap(*b) == p.size {
		*b = (*b)[:p.size]
		p.pool.Put(b)
	}
}

// chunkCodec is the executor's codec for BlockService traffic: the proto codec, except
// for ReadBlockChunk messages, the bulk of the bytes.
//
// Marshal (the server side) sends the data of a chunk whose buffer comes from the chunk
// pool without copying it: its bytes go to gRPC as they are, and gRPC returns the buffer
// to the pool once it has written them, so the sender must hand such a buffer over with
// Send and never touch it again. The wire format is the proto one (fields in another
// order, which every proto parser accepts).
//
// Unmarshal (the side reading chunks, e.g. a persist reading another executor's block)
// gathers the message into one buffer and lets Data alias it, where the proto codec
// copies the bytes twice.
type chunkCodec struct {
	base encoding.CodecV2
	pool *bufPool
}

func newChunkCodec(pool *bufPool) *chunkCodec {
	return &chunkCodec{base: encoding.GetCodecV2("proto"), pool: pool}
}

// Name returns "proto": the codec serves the ordinary proto content subtype.
func (c *chunkCodec) Name() string { return c.base.Name() }

func (c *chunkCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.unmarshal(data, v) }

func (c *chunkCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*sluicepb.ReadBlockChunk)
	if !ok || len(m.GetData()) == 0 || cap(m.GetData()) != c.pool.size {
		return c.base.Marshal(v)
	}
	head := &sluicepb.ReadBlockChunk{Offset: m.GetOffset(), BlockLength: m.GetBlockLength(), FromUfs: m.GetFromUfs(), Tier: m.GetTier()}
	b, err := proto.MarshalOptions{}.MarshalAppend(make([]byte, 0, 64), head)
	if err != nil {
		return nil, err
	}
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(m.GetData())))
	data := m.GetData()
	return mem.BufferSlice{mem.SliceBuffer(b), mem.NewBuffer(&data, c.pool)}, nil
}

func (c *chunkCodec) unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*sluicepb.ReadBlockChunk)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	return unmarshalChunk(data.Materialize(), m)
}

// unmarshalChunk decodes the wire form of a ReadBlockChunk into m with m.Data aliasing
// buf. Unknown fields are skipped, as proto does.
func unmarshalChunk(buf []byte, m *sluicepb.ReadBlockChunk) error {
	proto.Reset(m)
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return protowire.ParseError(n)
		}
		buf = buf[n:]
		switch {
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return protowire.ParseError(n)
			}
			m.Data, buf = v, buf[n:]
		case num == 5 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(buf)
			if n < 0 {
				return protowire.ParseError(n)
			}
			m.Tier, buf = v, buf[n:]
		case (num == 1 || num == 3 || num == 4) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(buf)
			if n < 0 {
				return protowire.ParseError(n)
			}
			switch num {
			case 1:
				m.Offset = int64(v)
			case 3:
				m.BlockLength = int64(v)
			case 4:
				m.FromUfs = v != 0
			}
			buf = buf[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, buf)
			if n < 0 {
				return protowire.ParseError(n)
			}
			buf = buf[n:]
		}
	}
	return nil
}
