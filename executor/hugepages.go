package executor

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// mountOf returns the file system type and mount options of the mount that holds dir,
// read from a /proc/mounts text: the entry with the longest mount point that is a prefix
// of dir. ok is false when no entry covers dir.
func mountOf(procMounts, dir string) (fstype, options string, ok bool) {
	best := -1
	sc := bufio.NewScanner(strings.NewReader(procMounts))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 {
			continue
		}
		mp := unescapeMount(f[1])
		if (dir == mp || strings.HasPrefix(dir, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best, fstype, options, ok = len(mp), f[2], f[3], true
		}
	}
	return fstype, options, ok
}

// unescapeMount undoes the octal escapes /proc/mounts uses for spaces and tabs.
func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// tmpfsWithoutHugePages reports whether a tmpfs mount with these options gives 4 KiB
// pages only: no huge= option (or huge=never) unless the kernel forces huge pages on
// every tmpfs (shmem_enabled "force"). On such a tmpfs the kernel's per-page work
// bounds a short-circuit read of a block to about half of memory speed; with huge
// pages it runs near memcpy speed (docs/BENCHMARKS.md).
func tmpfsWithoutHugePages(options, shmemEnabled string) bool {
	if strings.Contains(shmemEnabled, "[force]") {
		return false
	}
	for _, o := range strings.Split(options, ",") {
		if v, ok := strings.CutPrefix(o, "huge="); ok {
			return v == "never" || v == "deny"
		}
	}
	return true
}

// checkHugePages logs, once at start, a MEM tier directory on a tmpfs without huge pages,
// with the remedy. It is advice, not an error: everything works, only slower.
func (e *Executor) checkHugePages(dirs []string) {
	mounts, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return
	}
	shmem, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		fstype, opts, ok := mountOf(string(mounts), abs)
		if ok && fstype == "tmpfs" && tmpfsWithoutHugePages(opts, string(shmem)) {
			e.log.Info("MEM tier on a tmpfs without huge pages: short-circuit reads run at about half of memory speed; mount its tmpfs with -o huge=within_size for full speed",
				"dir", d)
		}
	}
}
