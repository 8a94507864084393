// Package local is the under file system of Sluice on a directory of this host (scheme
// file://).
//
// An FS is rooted at one host directory; every ufs path is cleaned with ufs.CleanPath
// and resolved beneath that root through an os.Root, so no path and no symbolic link can
// lead outside it: a symbolic link that points out of the root is refused with
// fs.ErrPermission, one that stays inside is followed.
//
// Decisions recorded here (DESIGN.md leaves them to the backend):
//
//   - Create writes to a hidden temporary file in the target's directory, named
//     ".sluice-tmp-" plus a random suffix, and renames it into place on Writer.Close, so
//     a reader sees no file or the whole file. With Options.Sync (the default) Close
//     fsyncs the file before the rename and the directory after it, and the parents of
//     directories that Create or Mkdir made, so a file is durable once Close returns:
//     the CACHE_THROUGH write type relies on it.
//   - Names that begin with ".sluice-tmp-" are reserved: List never shows them and every
//     method rejects a path with such an element as ufs.ErrInvalidPath. A process that
//     dies while writing leaves its temporary file behind; RemoveStaleTemps collects
//     them.
//   - Rename refuses an existing destination atomically (renameat2 RENAME_NOREPLACE on
//     Linux; a check before the rename elsewhere and on file systems without it) and is
//     atomic for files and directories alike.
//   - New needs an existing root directory unless Options.CreateRoot is set, so that a
//     mistyped mount URI fails instead of creating an empty store.
//   - List shows regular files and directories; a symbolic link is listed as what it
//     points to, and left out when that is outside the root, missing, or neither.
//   - The root itself cannot be deleted or renamed (ufs.ErrInvalidPath); creating a
//     file at "/" fails with ufs.ErrIsDir.
//
// Errors are *fs.PathError values holding the ufs path (never the host path) and
// wrapping fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, ufs.ErrNotEmpty, ufs.ErrIsDir,
// ufs.ErrNotDir or ufs.ErrInvalidPath; context errors are wrapped unchanged.
package local
