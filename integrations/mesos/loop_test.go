package mesos

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
	schedpb "github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

// scriptedMaster is a Mesos master's scheduler endpoint whose subscriptions follow a
// script, for what the stand-in does not do on demand: go silent (missed heartbeats)
// or refuse a framework with ERROR events. Other calls are answered 202 and recorded.
type scriptedMaster struct {
	srv *httptest.Server
	// subscribe answers the n-th SUBSCRIBE (from 0) with the events to send; the stream
	// then stays open and silent until the client goes.
	subscribe func(n int, call *schedpb.Call) []*schedpb.Event

	mu    sync.Mutex
	subs  []*schedpb.Call
	calls []schedpb.Call_Type
}

func newScriptedMaster(t *testing.T, subscribe func(n int, call *schedpb.Call) []*schedpb.Event) *scriptedMaster {
	m := &scriptedMaster{subscribe: subscribe}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(func() {
		m.srv.CloseClientConnections()
		m.srv.Close()
	})
	return m
}

func (m *scriptedMaster) addr() string { return strings.TrimPrefix(m.srv.URL, "http://") }

func (m *scriptedMaster) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var call schedpb.Call
	if err := call.Unmarshal(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m.mu.Lock()
	m.calls = append(m.calls, call.GetType())
	if call.GetType() != schedpb.Call_SUBSCRIBE {
		m.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		return
	}
	n := len(m.subs)
	m.subs = append(m.subs, &call)
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Mesos-Stream-Id", "stream-"+strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	for _, e := range m.subscribe(n, &call) {
		b, err := e.Marshal()
		if err != nil {
			return
		}
		if _, err := io.WriteString(w, strconv.Itoa(len(b))+"\n"); err != nil {
			return
		}
		if _, err := w.Write(b); err != nil {
			return
		}
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

// subscriptions returns the SUBSCRIBE calls so far.
func (m *scriptedMaster) subscriptions() []*schedpb.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*schedpb.Call(nil), m.subs...)
}

func subscribed(id string, heartbeat float64) *schedpb.Event {
	return &schedpb.Event{Type: schedpb.Event_SUBSCRIBED, Subscribed: &schedpb.Event_Subscribed{
		FrameworkID: &mesosv1.FrameworkID{Value: id}, HeartbeatIntervalSeconds: &heartbeat,
	}}
}

// scriptedConfig is a backend Config for a scripted master.
func scriptedConfig(t *testing.T, m *scriptedMaster) Config {
	cfg := DefaultConfig()
	cfg.Master = m.addr()
	cfg.FrameworkIDFile = t.TempDir() + "/framework-id"
	cfg.ReconnectMin, cfg.ReconnectMax = 10*time.Millisecond, 50*time.Millisecond
	cfg.Logger = testLogger(t)
	return cfg
}

// TestBackend_MissedHeartbeats: a master that goes silent after SUBSCRIBED is left, and
// the backend subscribes again with the framework ID it was given.
func TestBackend_MissedHeartbeats(t *testing.T) {
	m := newScriptedMaster(t, func(n int, _ *schedpb.Call) []*schedpb.Event {
		return []*schedpb.Event{subscribed("fw-hb", 0.05)}
	})
	b, _ := startBackend(t, scriptedConfig(t, m))
	schedulertest.Eventually(t, "a second subscription", func() bool { return len(m.subscriptions()) >= 2 })
	subs := m.subscriptions()
	if got := subs[0].GetFrameworkID().GetValue(); got != "" {
		t.Errorf("first subscription with framework ID %q, want none", got)
	}
	if got := subs[1].GetFrameworkID().GetValue(); got != "fw-hb" {
		t.Errorf("resubscription with framework ID %q, want fw-hb", got)
	}
	info := subs[1].GetSubscribe().GetFrameworkInfo()
	if info.GetFailoverTimeout() <= 0 || info.GetID().GetValue() != "fw-hb" || !info.GetCheckpoint() {
		t.Errorf("framework info of the resubscription: %+v", info)
	}
	if b.FrameworkID() != "fw-hb" {
		t.Errorf("FrameworkID() = %q", b.FrameworkID())
	}
}

// TestBackend_FrameworkRefused: a master that answers the kept framework ID with ERROR
// events again and again makes the backend give that ID up and register anew.
func TestBackend_FrameworkRefused(t *testing.T) {
	m := newScriptedMaster(t, func(n int, call *schedpb.Call) []*schedpb.Event {
		if call.GetFrameworkID().GetValue() == "fw-old" {
			return []*schedpb.Event{{Type: schedpb.Event_ERROR, Error: &schedpb.Event_Error{Message: "Framework has been removed"}}}
		}
		return []*schedpb.Event{subscribed("fw-new", 15)}
	})
	cfg := scriptedConfig(t, m)
	if err := writeFrameworkID(cfg.FrameworkIDFile, "fw-old"); err != nil {
		t.Fatal(err)
	}
	b, _ := startBackend(t, cfg)
	schedulertest.Eventually(t, "a new framework ID", func() bool { return b.FrameworkID() == "fw-new" })
	subs := m.subscriptions()
	if len(subs) != forgetAfterErrors+1 {
		t.Errorf("%d subscriptions, want %d refused and one new", len(subs), forgetAfterErrors)
	}
	if got, err := readFrameworkID(cfg.FrameworkIDFile); err != nil || got != "fw-new" {
		t.Errorf("framework ID file holds %q, %v", got, err)
	}
	// Nothing pending: offers are suppressed once subscribed.
	schedulertest.Eventually(t, "a SUPPRESS call", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, c := range m.calls {
			if c == schedpb.Call_SUPPRESS {
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Nodes(ctx); err == nil {
		t.Error("Nodes with an ended ctx and no agents returned no error")
	}
}
