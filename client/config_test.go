package client

import (
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/api/sluicepb"
)

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"default", func(*Config) {}, true},
		{"zero config", func(c *Config) { *c = Config{} }, true},
		{"three masters", func(c *Config) { c.Masters = []string{"a:1", "b:2", "[::1]:3"} }, true},
		{"master without port", func(c *Config) { c.Masters = []string{"localhost"} }, false},
		{"negative chunk", func(c *Config) { c.ChunkSize = -1 }, false},
		{"huge chunk", func(c *Config) { c.ChunkSize = 1 << 30 }, false},
		{"message smaller than chunk", func(c *Config) { c.MaxMessageSize = 1 << 10 }, false},
		{"bad write type", func(c *Config) { c.DefaultWriteType = 9 }, false},
		{"bad read type", func(c *Config) { c.DefaultReadType = -1 }, false},
		{"negative block size", func(c *Config) { c.DefaultBlockSize = -1 }, false},
		{"negative timeout", func(c *Config) { c.RPCTimeout = -time.Second }, false},
		{"negative retries", func(c *Config) { c.MaxRetries = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("error %v does not wrap ErrInvalidArgument", err)
			}
		})
	}
}

func TestConfig_Defaults(t *testing.T) {
	d := DefaultConfig()
	if d.Masters[0] != "127.0.0.1:19998" || !d.ShortCircuit || d.ChunkSize != 1<<20 ||
		d.DefaultWriteType != WriteAsyncThrough || d.DefaultReadType != ReadCache {
		t.Errorf("DefaultConfig() = %+v", d)
	}
	got := Config{}.withDefaults()
	if got.ChunkSize != d.ChunkSize || len(got.Masters) != 1 || got.Logger == nil || got.MaxRetries == 0 {
		t.Errorf("withDefaults left zero fields: %+v", got)
	}
}

func TestParseWriteType(t *testing.T) {
	tests := []struct {
		in   string
		want WriteType
		ok   bool
	}{
		{"MUST_CACHE", WriteMustCache, true},
		{"must-cache", WriteMustCache, true},
		{"cache_through", WriteCacheThrough, true},
		{"THROUGH", WriteThrough, true},
		{"async_through", WriteAsyncThrough, true},
		{"UNSPECIFIED", 0, false},
		{"", 0, false},
		{"cache", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWriteType(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseWriteType(%q) = %v, %v", tt.in, got, err)
			}
			if tt.ok && got.String() == "" {
				t.Error("empty String()")
			}
			if !tt.ok && !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("error %v does not wrap ErrInvalidArgument", err)
			}
		})
	}
	if WriteCacheThrough.String() != "CACHE_THROUGH" {
		t.Errorf("String() = %q", WriteCacheThrough.String())
	}
}

func TestParseReadType(t *testing.T) {
	tests := []struct {
		in   string
		want ReadType
		ok   bool
	}{
		{"CACHE", ReadCache, true},
		{"no-cache", ReadNoCache, true},
		{"cache_promote", ReadCachePromote, true},
		{"unspecified", 0, false},
		{"promote", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseReadType(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseReadType(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
	if ReadNoCache.String() != "NO_CACHE" {
		t.Errorf("String() = %q", ReadNoCache.String())
	}
}

func TestFileInfoFromProto(t *testing.T) {
	p := &sluicepb.FileInfo{
		FileId: 7, ParentId: 1, Path: "/a/b", Name: "b", Length: 10, BlockSize: 4,
		BlockIds: []uint64{7 << 24, 7<<24 | 1, 7<<24 | 2}, State: sluicepb.FileState_FILE_STATE_COMPLETE,
		PersistenceState: sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED, UfsPath: "mem:///a/b",
		Owner: "o", Group: "g", Mode: 0o640, Pinned: true, TtlMs: 1500,
		TtlAction: sluicepb.TtlAction_TTL_ACTION_FREE, CreationTimeMs: 1000, ModificationTimeMs: 2000,
		JobId: "j", InMemoryPercent: 50, MountId: 3, ContentCrc32C: proto.Uint32(99),
	}
	got := fileInfoFromProto(p)
	want := FileInfo{
		FileID: 7, ParentID: 1, Path: "/a/b", Name: "b", Length: 10, BlockSize: 4,
		BlockIDs: []uint64{7 << 24, 7<<24 | 1, 7<<24 | 2}, Complete: true,
		Persistence: sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED, UFSPath: "mem:///a/b",
		Owner: "o", Group: "g", Mode: 0o640, Pinned: true, TTL: 1500 * time.Millisecond,
		TTLAction: sluicepb.TtlAction_TTL_ACTION_FREE, Created: time.UnixMilli(1000), Modified: time.UnixMilli(2000),
		JobID: "j", InMemoryPercent: 50, MountID: 3, ContentCRC32C: 99, HasContentCRC32C: true,
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(0)); diff != "" {
		t.Errorf("fileInfoFromProto mismatch (-want +got):\n%s", diff)
	}
	if got.PersistenceName() != "PERSISTED" {
		t.Errorf("PersistenceName() = %q", got.PersistenceName())
	}
	fsi := got.FS()
	if fsi.Name() != "b" || fsi.Size() != 10 || fsi.Mode() != 0o640 || fsi.IsDir() || !fsi.ModTime().Equal(time.UnixMilli(2000)) {
		t.Errorf("FS() = %v %v %v", fsi.Name(), fsi.Size(), fsi.Mode())
	}
	dir := fileInfoFromProto(&sluicepb.FileInfo{IsDir: true, Mode: 0o755}).FS()
	if dir.Mode() != fs.ModeDir|0o755 || !dir.IsDir() {
		t.Errorf("directory mode %v", dir.Mode())
	}
	if fi := fileInfoFromProto(nil); fi.FileID != 0 || fi.Complete {
		t.Errorf("nil converted to %+v", fi)
	}
}

func TestClient_IsLocal(t *testing.T) {
	c := &Client{cfg: Config{Hostname: "node-a"}}
	tests := []struct {
		host, addr string
		want       bool
	}{
		{"node-a", "10.0.0.1:29998", true},
		{"node-b", "127.0.0.1:29998", false}, // a reported host name wins over the address
		{"", "127.0.0.1:29998", true},
		{"", "[::1]:29998", true},
		{"", "localhost:29998", true},
		{"", "10.0.0.2:29998", false},
		{"", "no-port", false},
	}
	for _, tt := range tests {
		if got := c.isLocal(tt.host, tt.addr); got != tt.want {
			t.Errorf("isLocal(%q, %q) = %v, want %v", tt.host, tt.addr, got, tt.want)
		}
	}
}
