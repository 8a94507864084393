package state

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePath(t *testing.T) {
	long := strings.Repeat("n", MaxNameLen)
	tests := []struct {
		in, want string
		err      error
	}{
		{"/", "/", nil},
		{"/a", "/a", nil},
		{"/a/b/", "/a/b", nil},
		{"//a///b", "/a/b", nil},
		{"/a/./b/.", "/a/b", nil},
		{"/é/日本", "/é/日本", nil},
		{"/" + long, "/" + long, nil},
		{"/a..b/..c", "/a..b/..c", nil},
		{"", "", ErrInvalidPath},
		{"a/b", "", ErrInvalidPath},
		{"./a", "", ErrInvalidPath},
		{"/a/../b", "", ErrInvalidPath},
		{"/..", "", ErrInvalidPath},
		{"/a/\x00", "", ErrInvalidPath},
		{"/\xff", "", ErrInvalidPath},
		{"/" + long + "n", "", ErrInvalidPath},
		{strings.Repeat("/abcdefgh", MaxPathLen/9+1), "", ErrInvalidPath},
	}
	for _, tt := range tests {
		got, err := ValidatePath(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ValidatePath(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestPathDepth(t *testing.T) {
	for p, want := range map[string]int{"/": 0, "/a": 1, "/a/b/c": 3} {
		if got := PathDepth(p); got != want {
			t.Errorf("PathDepth(%q) = %d, want %d", p, got, want)
		}
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "//a/./b/", "/a/../b", "a", "/\x00", "/日本/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		clean, err := ValidatePath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("ValidatePath(%q) error %v does not wrap ErrInvalidPath", p, err)
			}
			return
		}
		if again, err := ValidatePath(clean); err != nil || again != clean {
			t.Fatalf("ValidatePath(%q) = %q, not a fixed point: %q, %v", p, clean, again, err)
		}
		if clean[0] != '/' || strings.Contains(clean, "//") || (clean != "/" && strings.HasSuffix(clean, "/")) ||
			len(clean) > MaxPathLen || strings.IndexByte(clean, 0) >= 0 {
			t.Fatalf("ValidatePath(%q) = %q, not clean", p, clean)
		}
		for _, c := range components(clean) {
			if c == "" || c == "." || c == ".." || len(c) > MaxNameLen {
				t.Fatalf("ValidatePath(%q) = %q has component %q", p, clean, c)
			}
		}
		if PathDepth(clean) != len(components(clean)) {
			t.Fatalf("PathDepth(%q) = %d, components %d", clean, PathDepth(clean), len(components(clean)))
		}
	})
}
