package s3

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/sluicedata/sluice/ufs"
)

// Keys of the factory options. Values are strings as a mount command gives them.
const (
	// OptEndpoint is the service address: "host[:port]", or "http://host[:port]" or
	// "https://host[:port]", whose scheme then decides OptSecure. Required.
	OptEndpoint = "s3.endpoint"
	// OptAccessKey and OptSecretKey are static credentials (both or neither).
	OptAccessKey = "s3.access-key"
	OptSecretKey = "s3.secret-key"
	// OptRegion is the region of the bucket (optional).
	OptRegion = "s3.region"
	// OptSecure is "true" (the default) for HTTPS, "false" for plain HTTP.
	OptSecure = "s3.secure"
	// OptPartSize is the multipart part size in bytes, with an optional suffix KiB,
	// MiB or GiB ("16MiB").
	OptPartSize = "s3.part-size"
	// OptConcurrency is the number of parts of one file uploaded at once.
	OptConcurrency = "s3.concurrency"
)

var knownOptions = []string{OptAccessKey, OptConcurrency, OptEndpoint, OptPartSize, OptRegion, OptSecretKey, OptSecure}

// Factory opens the FS that an s3://bucket/prefix URI names, configured by options
// (the Opt* keys; an unknown key is an error). It matches ufs.Factory. The package
// reads no environment: cmd/sluice maps its settings to options.
func Factory(ctx context.Context, u *url.URL, options map[string]string) (ufs.FS, error) {
	bucket, prefix, opts, err := parse(u, options)
	if err != nil {
		return nil, err
	}
	f, err := New(ctx, bucket, prefix, opts)
	if err != nil {
		return nil, err
	}
	return f, nil
}

var _ ufs.Factory = Factory

// parse checks an s3:// URI and its options and returns what New takes. It does no
// I/O. Errors wrap ErrInvalidURI or ErrInvalidOption.
func parse(u *url.URL, options map[string]string) (bucket, prefix string, opts Options, err error) {
	if u.Scheme != "s3" {
		return "", "", Options{}, fmt.Errorf("scheme %q is not s3: %w", u.Scheme, ErrInvalidURI)
	}
	switch {
	case u.Opaque != "":
		return "", "", Options{}, fmt.Errorf("%q: want s3://bucket/prefix: %w", u.Redacted(), ErrInvalidURI)
	case u.User != nil:
		return "", "", Options{}, fmt.Errorf("credentials belong in options, not in the URI: %w", ErrInvalidURI)
	case u.Port() != "" || strings.HasSuffix(u.Host, ":"):
		return "", "", Options{}, fmt.Errorf("bucket %q has a port; the endpoint goes in %s: %w", u.Host, OptEndpoint, ErrInvalidURI)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", "", Options{}, fmt.Errorf("%q: queries and fragments are not used; settings go in options: %w", u.Redacted(), ErrInvalidURI)
	}
	if err := s3utils.CheckValidBucketName(u.Host); err != nil {
		return "", "", Options{}, fmt.Errorf("bucket %q: %v: %w", u.Host, err, ErrInvalidURI)
	}
	keyPrefix, err := cleanPrefix(u.Path)
	if err != nil {
		return "", "", Options{}, errJoin(ErrInvalidURI, err)
	}
	opts, err = parseOptions(options)
	if err != nil {
		return "", "", Options{}, err
	}
	prefix = strings.TrimSuffix(keyPrefix, "/")
	return u.Host, prefix, opts, nil
}

// parseOptions turns factory options into Options and validates them.
func parseOptions(options map[string]string) (Options, error) {
	for k := range options {
		if !slices.Contains(knownOptions, k) {
			return Options{}, fmt.Errorf("unknown key %q (known: %s): %w", k, strings.Join(knownOptions, ", "), ErrInvalidOption)
		}
	}
	opts := Options{
		AccessKey: options[OptAccessKey],
		SecretKey: options[OptSecretKey],
		Region:    options[OptRegion],
		Secure:    true,
	}
	endpoint := options[OptEndpoint]
	schemeSecure := ""
	if scheme, rest, ok := strings.Cut(endpoint, "://"); ok {
		switch scheme {
		case "http":
			opts.Secure = false
		case "https":
		default:
			return Options{}, fmt.Errorf("%s %q: scheme must be http or https: %w", OptEndpoint, endpoint, ErrInvalidOption)
		}
		schemeSecure = strconv.FormatBool(opts.Secure)
		endpoint = strings.TrimSuffix(rest, "/")
	}
	opts.Endpoint = endpoint
	if s, ok := options[OptSecure]; ok {
		secure, err := strconv.ParseBool(s)
		if err != nil {
			return Options{}, fmt.Errorf("%s %q: want true or false: %w", OptSecure, s, ErrInvalidOption)
		}
		if schemeSecure != "" && schemeSecure != strconv.FormatBool(secure) {
			return Options{}, fmt.Errorf("%s=%s contradicts %s %q: %w", OptSecure, s, OptEndpoint, options[OptEndpoint], ErrInvalidOption)
		}
		opts.Secure = secure
	}
	if s, ok := options[OptPartSize]; ok {
		n, err := parseSize(s)
		if err != nil {
			return Options{}, fmt.Errorf("%s %q: %v: %w", OptPartSize, s, err, ErrInvalidOption)
		}
		if n == 0 {
			return Options{}, fmt.Errorf("%s must not be 0: %w", OptPartSize, ErrInvalidOption)
		}
		opts.PartSize = n
	}
	if s, ok := options[OptConcurrency]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return Options{}, fmt.Errorf("%s %q: want a positive number: %w", OptConcurrency, s, ErrInvalidOption)
		}
		opts.Concurrency = n
	}
	if err := opts.Validate(); err != nil {
		return Options{}, err
	}
	return opts, nil
}

// parseSize parses a byte count with an optional binary suffix: "1048576", "16MiB".
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a byte count such as 16777216 or 16MiB")
	}
	if n > (1<<64-1)/mult {
		return 0, fmt.Errorf("too large")
	}
	return n * mult, nil
}

// errJoin wraps cause under the sentinel so both match errors.Is.
func errJoin(sentinel, cause error) error {
	return fmt.Errorf("%w: %w", sentinel, cause)
}
