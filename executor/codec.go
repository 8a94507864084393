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

// chunkCodec is the BlockService server's codec: the proto codec, except that a
// ReadBlockChunk whose data is a buffer of the chunk pool is marshalled without copying
// the data. Its bytes go to gRPC as they are, and gRPC returns the buffer to the pool
// once it has written them, so the sender must hand such a buffer over with Send and
// never touch it again. The wire format is the proto one (fields in another order, which
// every proto parser accepts).
type chunkCodec struct {
	base encoding.CodecV2
	pool *bufPool
}

func newChunkCodec(pool *bufPool) *chunkCodec {
	return &chunkCodec{base: encoding.GetCodecV2("proto"), pool: pool}
}

// Name returns "proto": the codec serves the ordinary proto content subtype.
func (c *chunkCodec) Name() string { return c.base.Name() }

func (c *chunkCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.base.Unmarshal(data, v) }

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
