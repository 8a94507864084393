package clienttest

import (
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// TestReasonCode_CoversEveryReason keeps the fake's error table complete: every reason of
// api/errors.proto but UNSPECIFIED has a code.
func TestReasonCode_CoversEveryReason(t *testing.T) {
	for v, name := range sluicepb.ErrorReason_name {
		r := sluicepb.ErrorReason(v)
		if r == sluicepb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			continue
		}
		if _, ok := reasonCode[r]; !ok {
			t.Errorf("reason %s has no code in the fake's table", name)
		}
	}
}

func TestCluster_UFSPaths(t *testing.T) {
	c := New(t, Options{RootUFS: "mem:///r/"})
	c.mu.Lock()
	defer c.mu.Unlock()
	tests := []struct{ path, want string }{
		{"/", "mem:///r/"},
		{"/a", "mem:///r/a"},
		{"/a/b", "mem:///r/a/b"},
	}
	for _, tt := range tests {
		if got := c.ufsURI(tt.path); got != tt.want {
			t.Errorf("ufsURI(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	for _, p := range []string{"", "a", "/a/", "/a/../b", "//a"} {
		if err := checkPath(p); err == nil {
			t.Errorf("checkPath(%q) accepted", p)
		}
	}
}
