package ufs

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// CleanPath checks and normalizes a path for an FS: it must be non-empty, contain no NUL
// byte and no ".." element. The result is absolute, slash-separated and has no trailing
// slash (except for the root "/"). Relative paths are taken from the root.
func CleanPath(name string) (string, error) {
	if name == "" {
		return "", &fs.PathError{Op: "clean", Path: name, Err: fmt.Errorf("empty path: %w", ErrInvalidPath)}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", &fs.PathError{Op: "clean", Path: name, Err: fmt.Errorf("NUL byte in path: %w", ErrInvalidPath)}
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return "", &fs.PathError{Op: "clean", Path: name, Err: fmt.Errorf(`".." in path: %w`, ErrInvalidPath)}
		}
	}
	return path.Clean("/" + name), nil
}

// Join joins a cleaned directory path and a child name.
func Join(dir, name string) string {
	return path.Join(dir, name)
}
