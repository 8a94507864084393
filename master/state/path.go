package state

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Limits on namespace paths, those of common POSIX file systems.
const (
	// MaxNameLen is the longest path component, in bytes.
	MaxNameLen = 255
	// MaxPathLen is the longest path, in bytes, after cleaning.
	MaxPathLen = 4096
)

// ValidatePath checks a namespace path and returns its clean form. A valid path is
// absolute, valid UTF-8 (journal entries are protobuf strings), has no NUL byte, no ".."
// element, no component longer than MaxNameLen and is at most MaxPathLen bytes long once
// cleaned. Repeated slashes, "." elements and a trailing slash are cleaned away, so
// "/a//b/./c/" is "/a/b/c". Errors wrap ErrInvalidPath.
func ValidatePath(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("empty path: %w", ErrInvalidPath)
	case p[0] != '/':
		return "", fmt.Errorf("path %q is not absolute: %w", p, ErrInvalidPath)
	case strings.IndexByte(p, 0) >= 0:
		return "", fmt.Errorf("path %q has a NUL byte: %w", p, ErrInvalidPath)
	case !utf8.ValidString(p):
		return "", fmt.Errorf("path %q is not UTF-8: %w", p, ErrInvalidPath)
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("path %q has a \"..\" element: %w", p, ErrInvalidPath)
		}
		if len(elem) > MaxNameLen {
			return "", fmt.Errorf("path %q has a component longer than %d bytes: %w", p, MaxNameLen, ErrInvalidPath)
		}
	}
	c := path.Clean(p)
	if len(c) > MaxPathLen {
		return "", fmt.Errorf("path of %d bytes is longer than %d: %w", len(c), MaxPathLen, ErrInvalidPath)
	}
	return c, nil
}

// components splits a clean path into its elements; the root has none.
func components(clean string) []string {
	if clean == "/" {
		return nil
	}
	return strings.Split(clean[1:], "/")
}

// PathDepth returns the number of elements of a clean path ("/" has 0, "/a/b" has 2):
// the most inodes a recursive create of that path can add, so the number of IDs to
// reserve for it.
func PathDepth(clean string) int {
	if clean == "/" {
		return 0
	}
	return strings.Count(clean, "/")
}

// isUnder reports whether clean path p is under clean directory dir or equal to it.
func isUnder(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// joinPath joins a clean directory path and a name.
func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}
