package main

import (
	"os"
	"testing"
)

// envBeSluice makes the test binary act as the sluice binary: `sluice local` in the
// tests launches os.Executable() (the test binary) as its executors, and those children
// inherit this variable, so they run main instead of the tests.
const envBeSluice = "SLUICE_TEST_BE_SLUICE"

func TestMain(m *testing.M) {
	if os.Getenv(envBeSluice) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
