//go:build !linux

package local

// renameNoReplace renames srcRel to dstRel, refusing an existing dstRel. Without
// renameat2 the refusal is a check before the rename (see renameChecked).
func (f *FS) renameNoReplace(srcRel, dstRel string) error {
	return f.renameChecked(srcRel, dstRel)
}
