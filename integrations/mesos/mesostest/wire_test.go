package mesostest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// post sends body to url with the given headers.
func post(t *testing.T, url string, body []byte, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func subscribeJSON(t *testing.T, info *mesos.FrameworkInfo) []byte {
	t.Helper()
	b, err := json.Marshal(&scheduler.Call{Type: scheduler.Call_SUBSCRIBE, Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: info}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSchedulerAPI_SubscribeStreamFraming(t *testing.T) {
	m := newTestMaster(t, nil)
	resp := post(t, m.SchedulerURL(), subscribeJSON(t, frameworkInfo("raw", 0)),
		map[string]string{"Content-Type": "application/json", "Accept": "application/json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Mesos-Stream-Id") == "" {
		t.Error("no Mesos-Stream-Id header")
	}
	if !slices.Contains(resp.TransferEncoding, "chunked") {
		t.Errorf("transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	// The body is RecordIO: "<length>\n<JSON event>" records.
	r := recordio.NewReader(resp.Body)
	var types []scheduler.Event_Type
	for len(types) < 3 {
		frame, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		var e scheduler.Event
		if err := json.Unmarshal(frame, &e); err != nil {
			t.Fatalf("frame %q: %v", frame, err)
		}
		if len(types) == 0 {
			if e.Type != scheduler.Event_SUBSCRIBED || e.Subscribed.GetHeartbeatIntervalSeconds() != 0.2 ||
				!strings.HasPrefix(e.Subscribed.FrameworkID.Value, m.ID()) || e.Subscribed.MasterInfo.GetID() != m.ID() {
				t.Fatalf("first event %s", frame)
			}
		}
		types = append(types, e.Type)
	}
	if types[1] != scheduler.Event_HEARTBEAT || types[2] != scheduler.Event_HEARTBEAT {
		t.Errorf("events %v, want SUBSCRIBED then heartbeats (no agents, no offers)", types)
	}
}

func TestSchedulerAPI_SubscribeRecordIOAccept(t *testing.T) {
	m := newTestMaster(t, nil)
	resp := post(t, m.SchedulerURL(), subscribeJSON(t, frameworkInfo("recordio", 0)), map[string]string{
		"Content-Type": "application/json", "Accept": "application/recordio", "Message-Accept": "application/x-protobuf"})
	if resp.Header.Get("Content-Type") != "application/recordio" || resp.Header.Get("Message-Content-Type") != "application/x-protobuf" {
		t.Fatalf("headers %v", resp.Header)
	}
	frame, err := recordio.NewReader(resp.Body).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	var e scheduler.Event
	if err := e.Unmarshal(frame); err != nil || e.Type != scheduler.Event_SUBSCRIBED {
		t.Fatalf("first protobuf event %v (%v)", e.Type, err)
	}
}

func TestSchedulerAPI_CallErrors(t *testing.T) {
	m := newTestMaster(t, nil)
	resp := post(t, m.SchedulerURL(), subscribeJSON(t, frameworkInfo("errors", 0)),
		map[string]string{"Content-Type": "application/json"})
	streamID := resp.Header.Get("Mesos-Stream-Id")
	var e scheduler.Event
	frame, err := recordio.NewReader(resp.Body).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(frame, &e); err != nil {
		t.Fatal(err)
	}
	fwID := e.Subscribed.FrameworkID.Value
	revive := func(fw string) []byte {
		b, _ := json.Marshal(&scheduler.Call{Type: scheduler.Call_REVIVE, FrameworkID: &mesos.FrameworkID{Value: fw}})
		return b
	}
	jsonCT := "application/json"
	for _, tc := range []struct {
		name    string
		method  string
		body    []byte
		headers map[string]string
		code    int
	}{
		{"accepted", "", revive(fwID), map[string]string{"Content-Type": jsonCT, "Mesos-Stream-Id": streamID}, http.StatusAccepted},
		{"no stream id", "", revive(fwID), map[string]string{"Content-Type": jsonCT}, http.StatusBadRequest},
		{"wrong stream id", "", revive(fwID), map[string]string{"Content-Type": jsonCT, "Mesos-Stream-Id": "x"}, http.StatusBadRequest},
		{"unknown framework", "", revive("nope"), map[string]string{"Content-Type": jsonCT, "Mesos-Stream-Id": streamID}, http.StatusForbidden},
		{"no framework id", "", []byte(`{"type":"REVIVE"}`), map[string]string{"Content-Type": jsonCT, "Mesos-Stream-Id": streamID}, http.StatusBadRequest},
		{"media type", "", revive(fwID), map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{"malformed", "", []byte("{"), map[string]string{"Content-Type": jsonCT}, http.StatusBadRequest},
		{"not acceptable", "", subscribeJSON(t, frameworkInfo("x", 0)), map[string]string{"Content-Type": jsonCT, "Accept": "text/html"}, http.StatusNotAcceptable},
		{"method", http.MethodGet, nil, nil, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			if tc.method == http.MethodGet {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, m.SchedulerURL(), nil)
				var err error
				if resp, err = http.DefaultClient.Do(req); err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
			} else {
				resp = post(t, m.SchedulerURL(), tc.body, tc.headers)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, body, tc.code)
			}
			if tc.code == http.StatusAccepted && len(body) != 0 {
				t.Errorf("202 with body %q", body)
			}
		})
	}
}

func TestExecutorAPI_UnknownExecutor(t *testing.T) {
	m := newTestMaster(t, func(c *Config) { c.Agents = []AgentConfig{smallAgent("a1")} })
	call := &mexec.Call{Type: mexec.Call_SUBSCRIBE, FrameworkID: mesos.FrameworkID{Value: "f"},
		ExecutorID: mesos.ExecutorID{Value: "e"}, Subscribe: &mexec.Call_Subscribe{}}
	body, err := call.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp := post(t, "http://"+m.Agents()[0].Endpoint+"/api/v1/executor", body,
		map[string]string{"Content-Type": string(codecs.MediaTypeProtobuf)})
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
}

// FuzzRecordIO checks that frames written by the stand-in's stream writer come back intact through mesos-go's RecordIO reader, as a framework reads them.
// Arbitrary input is not fed to that reader: a length above 2^63 makes it panic (an int
// overflow in recordio.reader.splitSize of mesos-go v0.0.11), and the stand-in never reads
// RecordIO itself.
func FuzzRecordIO(f *testing.F) {
	f.Add([]byte("hello"), []byte(""), []byte("6\nhello 0\n"))
	f.Add([]byte{0, '\n', 1}, []byte("x"), []byte("12\n"))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		rec := httptest.NewRecorder()
		sw := startStream(rec, streamFormat{codec: codecs.ByMediaType[codecs.MediaTypeJSON]}, "stream")
		frames := [][]byte{a, b, c}
		if err := sw.write(frames); err != nil {
			t.Fatal(err)
		}
		r := recordio.NewReader(rec.Body)
		// Zero-length records are skipped by the reader: Mesos allows them as keep-alives.
		for _, want := range frames {
			if len(want) == 0 {
				continue
			}
			got, err := r.ReadFrame()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("frame %q, %v; want %q", got, err, want)
			}
		}
		if _, err := r.ReadFrame(); err != io.EOF {
			t.Fatalf("after the frames: %v, want EOF", err)
		}
	})
}

// FuzzDecodeCall feeds arbitrary bodies to the call decoder of both codecs.
func FuzzDecodeCall(f *testing.F) {
	f.Add([]byte(`{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`))
	f.Add([]byte{0x10, 0x01, 0x1a, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ct := range []string{"application/json", "application/x-protobuf"} {
			req, err := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", ct)
			codec, ok := requestCodec(req)
			if !ok {
				t.Fatalf("no codec for %s", ct)
			}
			var call scheduler.Call
			_ = decodeCall(req, codec, &call)
		}
	})
}
