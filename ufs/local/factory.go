package local

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sluicedata/sluice/ufs"
)

// Errors of Factory.
var (
	// ErrInvalidURI reports a URI that does not name an absolute local directory.
	ErrInvalidURI = errors.New("local: invalid URI")
	// ErrInvalidOption reports an unknown option key or a value it cannot take.
	ErrInvalidOption = errors.New("local: invalid option")
)

// Option keys understood by Factory.
const (
	// OptionSync sets Options.Sync: a boolean as strconv.ParseBool reads it; "true"
	// when absent.
	OptionSync = "sync"
	// OptionCreateRoot sets Options.CreateRoot; "false" when absent.
	OptionCreateRoot = "create_root"
)

// Factory opens the FS that a file URI names, as a ufs.Factory: file:///abs/path or
// file://localhost/abs/path. Query strings, fragments, other hosts and relative paths
// are refused with ErrInvalidURI, unknown option keys and bad values with
// ErrInvalidOption. The caller owns the returned FS and may close it (io.Closer).
func Factory(ctx context.Context, u *url.URL, options map[string]string) (ufs.FS, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch {
	case u.Scheme != "file":
		return nil, fmt.Errorf("scheme %q, want file: %w", u.Scheme, ErrInvalidURI)
	case u.Opaque != "" || !path.IsAbs(u.Path):
		return nil, fmt.Errorf("%q: the path must be absolute (file:///abs/path): %w", u.String(), ErrInvalidURI)
	case u.Host != "" && u.Host != "localhost":
		return nil, fmt.Errorf("%q: host %q is not this host: %w", u.String(), u.Host, ErrInvalidURI)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q: user info, query and fragment are not allowed (options go in the options map): %w", u.String(), ErrInvalidURI)
	}
	opts, err := parseOptions(options)
	if err != nil {
		return nil, err
	}
	fsys, err := New(filepath.FromSlash(u.Path), opts)
	if err != nil {
		return nil, err
	}
	return fsys, nil
}

// parseOptions reads Factory options over DefaultOptions.
func parseOptions(options map[string]string) (Options, error) {
	opts := DefaultOptions()
	keys := make([]string, 0, len(options))
	for k := range options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var dst *bool
		switch k {
		case OptionSync:
			dst = &opts.Sync
		case OptionCreateRoot:
			dst = &opts.CreateRoot
		default:
			return Options{}, fmt.Errorf("unknown key %q (known: %s, %s): %w", k, OptionCreateRoot, OptionSync, ErrInvalidOption)
		}
		v, err := strconv.ParseBool(options[k])
		if err != nil {
			return Options{}, fmt.Errorf("%s=%q is not a boolean: %w", k, options[k], ErrInvalidOption)
		}
		*dst = v
	}
	return opts, nil
}
