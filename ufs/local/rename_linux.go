package local

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames srcRel to dstRel with renameat2(RENAME_NOREPLACE), so an
// existing dstRel is refused atomically (EEXIST). The parent directories are opened
// through the os.Root, so neither path can leave the root. File systems without
// RENAME_NOREPLACE fall back to renameChecked.
func (f *FS) renameNoReplace(srcRel, dstRel string) error {
	srcDir, err := f.root.Open(parent(srcRel))
	if err != nil {
		return err
	}
	defer srcDir.Close()
	dstDir, err := f.root.Open(parent(dstRel))
	if err != nil {
		return err
	}
	defer dstDir.Close()
	err = unix.Renameat2(int(srcDir.Fd()), base(srcRel), int(dstDir.Fd()), base(dstRel), unix.RENAME_NOREPLACE)
	runtime.KeepAlive(srcDir)
	runtime.KeepAlive(dstDir)
	if err == unix.EINVAL || err == unix.ENOSYS {
		return f.renameChecked(srcRel, dstRel)
	}
	return err
}
