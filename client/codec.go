package client

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc/encoding"
	protoenc "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// errChunkWire reports a ReadBlockChunk that is not valid protobuf wire format.
var errChunkWire = errors.New("malformed ReadBlockChunk")

// chunkCodec is the gRPC codec of one ReadBlock stream. It marshals and unmarshals like
// the standard proto codec, except that a ReadBlockChunk's data is not copied out of
// gRPC's receive buffers: the codec keeps a reference to them and exposes the data as
// segments (one per received HTTP/2 frame) until the next message or release. The
// stream's reader then copies each byte once, into the caller's buffer, or hands the
// segments to a writer without any copy.
//
// A chunkCodec serves one stream and is used by one goroutine: gRPC calls Unmarshal
// inside RecvMsg.
type chunkCodec struct {
	// held is the received message kept alive while segs point into it.
	held mem.BufferSlice
	// segs is the data of the last ReadBlockChunk.
	segs [][]byte
}

var protoCodec = encoding.GetCodecV2(protoenc.Name)

// Name is the standard codec's, so the content type stays application/grpc+proto.
func (c *chunkCodec) Name() string { return protoenc.Name }

func (c *chunkCodec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }

func (c *chunkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*sluicepb.ReadBlockChunk)
	if !ok {
		return protoCodec.Unmarshal(data, v)
	}
	c.release()
	m.Reset()
	if err := c.decode(data, m); err != nil {
		c.segs = c.segs[:0]
		return err
	}
	if len(c.segs) > 0 {
		data.Ref()
		c.held = data
	}
	return nil
}

// release drops the references to the last message's buffers.
func (c *chunkCodec) release() {
	if c.held != nil {
		c.held.Free()
		c.held = nil
	}
	clear(c.segs)
	c.segs = c.segs[:0]
}

// decode parses a ReadBlockChunk from data into m, with m.Data left empty and its bytes
// in c.segs, aliasing data.
func (c *chunkCodec) decode(data mem.BufferSlice, m *sluicepb.ReadBlockChunk) error {
	cur := wireCursor{bufs: data}
	for !cur.done() {
		tag, err := cur.varint()
		if err != nil {
			return err
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		if tag>>3 > uint64(protowire.MaxValidNumber) || !num.IsValid() {
			return fmt.Errorf("field number %d: %w", tag>>3, errChunkWire)
		}
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, err := cur.varint()
			m.Offset = int64(v)
			if err != nil {
				return err
			}
		case num == 2 && typ == protowire.BytesType:
			n, err := cur.varint()
			if err != nil {
				return err
			}
			// A repeated field replaces the earlier value, as in proto3.
			clear(c.segs)
			if c.segs, err = cur.take(c.segs[:0], n); err != nil {
				return err
			}
		case num == 3 && typ == protowire.VarintType:
			v, err := cur.varint()
			m.BlockLength = int64(v)
			if err != nil {
				return err
			}
		case num == 4 && typ == protowire.VarintType:
			v, err := cur.varint()
			m.FromUfs = v != 0
			if err != nil {
				return err
			}
		case num == 5 && typ == protowire.BytesType:
			n, err := cur.varint()
			if err != nil {
				return err
			}
			segs, err := cur.take(nil, n)
			if err != nil {
				return err
			}
			var s []byte
			for _, p := range segs {
				s = append(s, p...)
			}
			if !utf8.Valid(s) {
				return fmt.Errorf("tier is not UTF-8: %w", errChunkWire)
			}
			m.Tier = string(s)
		default:
			if err := cur.skip(typ); err != nil {
				return err
			}
		}
	}
	return nil
}

// wireCursor reads protobuf wire format across the buffers of a mem.BufferSlice.
type wireCursor struct {
	bufs mem.BufferSlice
	// i is the current buffer and off the position in it.
	i, off int
}

func (w *wireCursor) done() bool {
	for w.i < len(w.bufs) && w.off >= len(w.bufs[w.i].ReadOnlyData()) {
		w.i++
		w.off = 0
	}
	return w.i >= len(w.bufs)
}

func (w *wireCursor) byte() (byte, error) {
	if w.done() {
		return 0, fmt.Errorf("truncated: %w", errChunkWire)
	}
	b := w.bufs[w.i].ReadOnlyData()[w.off]
	w.off++
	return b, nil
}

func (w *wireCursor) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := w.byte()
		if err != nil {
			return 0, err
		}
		if shift == 63 && b > 1 {
			break
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("varint overflow: %w", errChunkWire)
}

// take appends to segs the next n bytes as slices of the buffers and advances past them.
func (w *wireCursor) take(segs [][]byte, n uint64) ([][]byte, error) {
	for n > 0 {
		if w.done() {
			return segs, fmt.Errorf("field longer than the message: %w", errChunkWire)
		}
		b := w.bufs[w.i].ReadOnlyData()[w.off:]
		k := min(uint64(len(b)), n)
		segs = append(segs, b[:k:k])
		w.off += int(k)
		n -= k
	}
	return segs, nil
}

// skip passes over a field of an unknown number.
func (w *wireCursor) skip(typ protowire.Type) error {
	var err error
	switch typ {
	case protowire.VarintType:
		_, err = w.varint()
	case protowire.Fixed32Type:
		_, err = w.take(nil, 4)
	case protowire.Fixed64Type:
		_, err = w.take(nil, 8)
	case protowire.BytesType:
		var n uint64
		if n, err = w.varint(); err == nil {
			_, err = w.take(nil, n)
		}
	default:
		err = fmt.Errorf("wire type %d: %w", typ, errChunkWire)
	}
	return err
}
