package blocks_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The Store starts no goroutines of its own; the SpaceReserver runs in its caller's.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
