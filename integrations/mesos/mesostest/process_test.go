package mesostest

import (
	"errors"
	"syscall"
)

// processGone reports whether no process with pid exists (it exited and was reaped).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
