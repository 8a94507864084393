package client

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: every client, reader,
// writer and fake server must stop cleanly.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
