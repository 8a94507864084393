//go:build race

package e2e

// raceEnabled says that the tests run with -race, so the binary is built with it too.
const raceEnabled = true
