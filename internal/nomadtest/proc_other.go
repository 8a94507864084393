//go:build !linux

package nomadtest

import (
	"os"
	"syscall"
)

// sysProcAttr puts the agent in a process group of its own.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to every process of group pgid.
func killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// killByEnviron needs /proc; elsewhere the process group kill has to do.
func killByEnviron(string) {}

// removeUnlessMounted removes dir; only Linux's exec driver mounts inside it.
func removeUnlessMounted(dir string) error {
	return os.RemoveAll(dir)
}
