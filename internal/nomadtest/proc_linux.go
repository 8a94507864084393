package nomadtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts the agent in a process group of its own (its plugin processes join
// it) and kills it should the test binary die without stopping it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends SIGKILL to every process of group pgid.
func killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// killByEnviron sends SIGKILL to every process whose environment mentions dir: the
// agent's plugins carry markerEnv, its raw_exec tasks NOMAD_ALLOC_DIR and friends.
func killByEnviron(dir string) {
	needle := []byte(dir + string(filepath.Separator))
	marker := []byte(markerEnv + "=" + dir)
	self := os.Getpid()
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range paths {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(p)
		if err != nil {
			continue // gone, or not ours to read
		}
		if bytes.Contains(env, needle) || bytes.Contains(env, marker) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeUnlessMounted removes dir, first detaching what is mounted below it (the exec
// driver's chroot bind mounts). If a mount remains, dir is left in place: removing it
// would reach through the mount into the host's files.
func removeUnlessMounted(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	// Deepest first, so a parent is not busy because of its children.
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	if mounts, err = mountsUnder(dir); err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("nomadtest: %d mounts remain under %s (first %s); left it in place", len(mounts), dir, mounts[0])
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points below dir from /proc/self/mountinfo.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("nomadtest: list mounts: %w", err)
	}
	defer f.Close()
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Fields: id parent major:minor root mountpoint options ...; the mount point
		// escapes spaces as \040.
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// unescapeMount decodes the octal escapes (\040 for a space) of a mountinfo field.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
