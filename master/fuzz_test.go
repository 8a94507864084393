package master

import (
	"testing"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// FuzzRequestValidation feeds arbitrary paths, block IDs and checksums to the request
// validators: they must never panic, and what they accept must be sane.
func FuzzRequestValidation(f *testing.F) {
	f.Add("/a/b", uint64(2<<24|1), int64(10), "MEM", "crc32c:0000abcd")
	f.Add("a/../b", uint64(5), int64(-1), "", "crc32c:zz")
	f.Add("/\x00", uint64(1)<<63, int64(1)<<40, "MEMORY-TIER-WITH-A-VERY-LONG-NAME-X", "")
	f.Fuzz(func(t *testing.T, p string, blockID uint64, length int64, tier, sum string) {
		if c, err := cleanPath(p); err == nil {
			if c == "" || c[0] != '/' {
				t.Fatalf("cleanPath(%q) = %q", p, c)
			}
			if c2, err := cleanPath(c); err != nil || c2 != c {
				t.Fatalf("clean path %q not stable: %q %v", c, c2, err)
			}
		}
		sb := &sluicepb.StoredBlock{BlockId: blockID, Length: length, Tier: tier}
		if checkStoredBlock(sb) == nil {
			if sluicepb.BlockFileID(blockID) < 2 || length < 0 || length > MaxBlockSize || tier == "" {
				t.Fatalf("accepted %v", sb)
			}
		}
		if v, ok := parseChecksum(sum); ok {
			if got, ok := parseChecksum(checksum(&v)); !ok || got != v {
				t.Fatalf("checksum %q does not round-trip", sum)
			}
		}
		_, _ = parseJobID(p)
	})
}
