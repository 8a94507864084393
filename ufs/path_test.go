package ufs_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/ufs"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		name string
		want string // "" when the path is rejected
	}{
		{"/", "/"},
		{"/a", "/a"},
		{"a", "/a"},
		{"a/b/c", "/a/b/c"},
		{"/a/b/", "/a/b"},
		{"//a//b//", "/a/b"},
		{"/a/./b/.", "/a/b"},
		{".", "/"},
		{"./", "/"},
		{"...", "/..."},
		{"/a/..b/c..", "/a/..b/c.."},
		{"/a b/ç", "/a b/ç"},
		{`a\..\b`, `/a\..\b`},
		{"", ""},
		{"..", ""},
		{"../x", ""},
		{"/a/../../etc", ""},
		{"/a/..", ""},
		{"a/../b", ""},
		{"/a/b/..", ""},
		{"a\x00b", ""},
		{"\x00", ""},
		{"/a/\x00/b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ufs.CleanPath(tt.name)
			if tt.want == "" {
				var pe *fs.PathError
				if !errors.Is(err, ufs.ErrInvalidPath) || !errors.As(err, &pe) || pe.Path != tt.name {
					t.Errorf("CleanPath(%q) = %q, %v; want a *fs.PathError of it wrapping ufs.ErrInvalidPath", tt.name, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("CleanPath(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	tests := []struct{ dir, name, want string }{
		{"/", "a", "/a"},
		{"/a", "b", "/a/b"},
		{"/a/", "b", "/a/b"},
		{"/a", "b/c", "/a/b/c"},
	}
	for _, tt := range tests {
		if got := ufs.Join(tt.dir, tt.name); got != tt.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tt.dir, tt.name, got, tt.want)
		}
	}
}

func TestFileInfo_Name(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/", "/"},
		{"/a", "a"},
		{"/a/b.txt", "b.txt"},
		{"rel", "rel"},
	}
	for _, tt := range tests {
		if got := (ufs.FileInfo{Path: tt.path}).Name(); got != tt.want {
			t.Errorf("FileInfo{Path: %q}.Name() = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// FuzzCleanPath checks the promises of CleanPath on any input: a path is rejected
// exactly when it is empty, holds a NUL byte or has a ".." element; an accepted one
// comes out absolute, canonical, free of "." and ".." elements, and cleaning it again
// changes nothing.
func FuzzCleanPath(f *testing.F) {
	for _, seed := range []string{"", "/", "a", "/a/b/", "//a/./b", "..", "a/../b", "a\x00b", ".../...", "/a/.."} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := ufs.CleanPath(name)
		bad := name == "" || strings.Contains(name, "\x00") || hasDotDot(name)
		if bad {
			if !errors.Is(err, ufs.ErrInvalidPath) {
				t.Fatalf("CleanPath(%q) = %q, %v; want ufs.ErrInvalidPath", name, got, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("CleanPath(%q): %v", name, err)
		}
		if !strings.HasPrefix(got, "/") || strings.Contains(got, "//") || (got != "/" && strings.HasSuffix(got, "/")) {
			t.Fatalf("CleanPath(%q) = %q: not absolute and canonical", name, got)
		}
		for _, elem := range strings.Split(got[1:], "/") {
			if elem == "." || elem == ".." {
				t.Fatalf("CleanPath(%q) = %q: holds element %q", name, got, elem)
			}
		}
		if again, err := ufs.CleanPath(got); err != nil || again != got {
			t.Fatalf("CleanPath(CleanPath(%q)) = %q, %v; want %q", name, again, err, got)
		}
	})
}

// hasDotDot reports whether a slash-separated path has a ".." element.
func hasDotDot(name string) bool {
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return true
		}
	}
	return false
}
