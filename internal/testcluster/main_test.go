package testcluster

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a cluster leaves goroutines behind: every master,
// executor and client must stop with the test that started it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
