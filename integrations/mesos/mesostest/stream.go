package mesostest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/framing"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
)

// mediaTypeRecordIO is the streaming media type of the Mesos operator API, which the stand-in also
// accepts on SUBSCRIBE (with Message-Accept naming the message codec).
const mediaTypeRecordIO = "application/recordio"

// maxCallSize bounds a call body, as Mesos bounds protobuf messages.
const maxCallSize = 4 << 20

// eventQueue is an unbounded FIFO of encoded events for one stream. The master enqueues under
// its own lock and never blocks; the stream's HTTP handler drains it. It is safe for concurrent use.
type eventQueue struct {
	// mu guards items and closed.
	mu     sync.Mutex
	items  [][]byte
	closed bool
	// notify has room for one pending wake-up.
	notify chan struct{}
}

func newEventQueue() *eventQueue { return &eventQueue{notify: make(chan struct{}, 1)} }

// push appends one encoded event; it is dropped once the queue is closed.
func (q *eventQueue) push(b []byte) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, b)
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// close marks the queue finished: the stream ends after the queued events are written.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// drain returns the queued events and whether the queue was closed.
func (q *eventQueue) drain() ([][]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items, q.closed
}

// encodeMessage encodes m with codec into one frame's bytes.
func encodeMessage(codec encoding.Codec, m encoding.Marshaler) ([]byte, error) {
	var out []byte
	enc := codec.NewEncoder(func() framing.Writer {
		return framing.WriterFunc(func(b []byte) error { out = bytes.Clone(b); return nil })
	})
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode %T as %s: %w", m, codec.Name, err)
	}
	return out, nil
}

// mustEncode encodes a message built by the stand-in; failing to encode one is a bug.
func mustEncode(codec encoding.Codec, m encoding.Marshaler) []byte {
	b, err := encodeMessage(codec, m)
	if err != nil {
		panic(err)
	}
	return b
}

// requestCodec returns the codec of a call's body from its Content-Type.
func requestCodec(r *http.Request) (encoding.Codec, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return encoding.Codec{}, false
	}
	c, ok := codecs.ByMediaType[encoding.MediaType(mt)]
	return c, ok
}

// streamFormat is how a streaming response is written: the message codec and whether the
// response declares application/recordio with a Message-Content-Type.
type streamFormat struct {
	codec    encoding.Codec
	recordio bool
}

// negotiate picks the response format from Accept (and Message-Accept), defaulting to the
// request's own codec as Mesos does when Accept is absent or a wildcard.
func negotiate(r *http.Request, reqCodec encoding.Codec) (streamFormat, bool) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return streamFormat{codec: reqCodec}, true
	}
	pick := func(header string) (encoding.Codec, bool) {
		for _, part := range strings.Split(header, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if mt == "*/*" || mt == "application/*" {
				return reqCodec, true
			}
			if c, ok := codecs.ByMediaType[encoding.MediaType(mt)]; ok {
				return c, true
			}
		}
		return encoding.Codec{}, false
	}
	for _, part := range strings.Split(accept, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == mediaTypeRecordIO {
			ma := r.Header.Get("Message-Accept")
			if ma == "" {
				return streamFormat{codec: reqCodec, recordio: true}, true
			}
			c, ok := pick(ma)
			return streamFormat{codec: c, recordio: true}, ok
		}
	}
	c, ok := pick(accept)
	return streamFormat{codec: c}, ok
}

// decodeCall reads one call from the request body with the request's codec.
func decodeCall(r *http.Request, codec encoding.Codec, into encoding.Unmarshaler) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCallSize+1))
	if err != nil {
		return fmt.Errorf("read call: %w", err)
	}
	if len(body) > maxCallSize {
		return errors.New("call exceeds the maximum message size")
	}
	if len(body) == 0 {
		return errors.New("empty call body")
	}
	dec := codec.NewDecoder(encoding.SourceReader(bytes.NewReader(body)))
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("decode %s call: %w", codec.Name, err)
	}
	return nil
}

// streamWriter writes RecordIO frames to a chunked HTTP response, flushing each frame.
type streamWriter struct {
	w  *recordio.Writer
	rc *http.ResponseController
}

// startStream writes the 200 headers of a streaming response and returns its frame writer.
func startStream(w http.ResponseWriter, f streamFormat, streamID string) *streamWriter {
	h := w.Header()
	if f.recordio {
		h.Set("Content-Type", mediaTypeRecordIO)
		h.Set("Message-Content-Type", f.codec.Type.ContentType())
	} else {
		h.Set("Content-Type", f.codec.Type.ContentType())
	}
	if streamID != "" {
		h.Set("Mesos-Stream-Id", streamID)
	}
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	return &streamWriter{w: recordio.NewWriter(w), rc: rc}
}

// write sends frames and flushes them to the client.
func (s *streamWriter) write(frames [][]byte) error {
	for _, f := range frames {
		if err := s.w.WriteFrame(f); err != nil {
			return fmt.Errorf("write frame: %w", err)
		}
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush frames: %w", err)
	}
	return nil
}

// httpError writes a Mesos-style error response: a status code and a plain-text reason.
func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, format, args...)
}

// readCall checks that r is a POST with a supported Content-Type and decodes its call into
// into; on failure it writes Mesos' error response (405, 415 or 400) and returns false.
func readCall(w http.ResponseWriter, r *http.Request, into encoding.Unmarshaler) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "Expecting a 'POST' request, received '%s'", r.Method)
		return false
	}
	codec, ok := requestCodec(r)
	if !ok {
		httpError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
		return false
	}
	if err := decodeCall(r, codec, into); err != nil {
		httpError(w, http.StatusBadRequest, "Failed to parse body into Call: %v", err)
		return false
	}
	return true
}

// sortedKeys returns a map's keys in order, for deterministic iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
