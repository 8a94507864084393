package ufs

import (
	"context"
	"fmt"
	"net/url"
	"sort"
)

// Factory opens the FS that a URI names, e.g. file:///var/ufs or s3://bucket/prefix.
// options carries backend settings (endpoint, credentials, …) given at mount time;
// unknown keys are an error so that a typo is never silently ignored.
type Factory func(ctx context.Context, u *url.URL, options map[string]string) (FS, error)

// Registry maps URI schemes ("file", "s3") to the factories that open them. It is built
// explicitly by the caller (cmd/sluice, a test); backends never register themselves.
type Registry map[string]Factory

// Open parses uri and opens it with the factory of its scheme. A URI without a scheme
// is an error, not a local path, so that "bucket/x" is never taken for a directory.
func (r Registry) Open(ctx context.Context, uri string, options map[string]string) (FS, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("ufs: parse %q: %w", uri, err)
	}
	f, ok := r[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("ufs: %q (known: %v): %w", u.Scheme, r.Schemes(), ErrUnknownScheme)
	}
	return f(ctx, u, options)
}

// Schemes returns the registered schemes, sorted.
func (r Registry) Schemes() []string {
	s := make([]string, 0, len(r))
	for k := range r {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
