package s3

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/sluicedata/sluice/ufs"
)

func TestParse(t *testing.T) {
	creds := map[string]string{OptEndpoint: "s3.example.com", OptAccessKey: "ak", OptSecretKey: "sk"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range creds {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "<delete>" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	base := Options{Endpoint: "s3.example.com", AccessKey: "ak", SecretKey: "sk", Secure: true}
	valid := []struct {
		name, uri  string
		opts       map[string]string
		bucket     string
		prefix     string
		wantOption Options
	}{
		{"bucket only", "s3://bucket", creds, "bucket", "", base},
		{"bucket slash", "s3://bucket/", creds, "bucket", "", base},
		{"prefix", "s3://bucket/a/b/", creds, "bucket", "a/b", base},
		{"messy prefix", "s3://bucket//a/./b", creds, "bucket", "a/b", base},
		{"escaped prefix", "s3://bucket/a%20b", creds, "bucket", "a b", base},
		{"http endpoint", "s3://bucket", with(OptEndpoint, "http://127.0.0.1:9000/"), "bucket", "",
			Options{Endpoint: "127.0.0.1:9000", AccessKey: "ak", SecretKey: "sk"}},
		{"https endpoint agrees", "s3://bucket", with(OptEndpoint, "https://h:1", OptSecure, "true"), "bucket", "",
			Options{Endpoint: "h:1", AccessKey: "ak", SecretKey: "sk", Secure: true}},
		{"insecure", "s3://bucket", with(OptSecure, "false"), "bucket", "",
			Options{Endpoint: "s3.example.com", AccessKey: "ak", SecretKey: "sk"}},
		{"all", "s3://b.c-d/x", with(OptRegion, "eu-west-1", OptPartSize, "32MiB", OptConcurrency, "4"), "b.c-d", "x",
			Options{Endpoint: "s3.example.com", AccessKey: "ak", SecretKey: "sk", Region: "eu-west-1", Secure: true, PartSize: 32 << 20, Concurrency: 4}},
		{"part size bytes", "s3://bucket", with(OptPartSize, "5242880"), "bucket", "",
			Options{Endpoint: "s3.example.com", AccessKey: "ak", SecretKey: "sk", Secure: true, PartSize: 5 << 20}},
		{"anonymous", "s3://bucket", with(OptAccessKey, "<delete>", OptSecretKey, "<delete>"), "bucket", "",
			Options{Endpoint: "s3.example.com", Secure: true}},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			bucket, prefix, opts, err := parse(u, tt.opts)
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.uri, err)
			}
			if bucket != tt.bucket || prefix != tt.prefix {
				t.Errorf("parse(%q) = bucket %q prefix %q, want %q %q", tt.uri, bucket, prefix, tt.bucket, tt.prefix)
			}
			if diff := cmp.Diff(tt.wantOption, opts); diff != "" {
				t.Errorf("options mismatch (-want +got):\n%s", diff)
			}
		})
	}

	invalid := []struct {
		name, uri string
		opts      map[string]string
		want      error
	}{
		{"other scheme", "file:///x", creds, ErrInvalidURI},
		{"opaque", "s3:bucket/x", creds, ErrInvalidURI},
		{"no bucket", "s3:///x", creds, ErrInvalidURI},
		{"user info", "s3://ak:sk@bucket/x", creds, ErrInvalidURI},
		{"port", "s3://bucket:9000/x", creds, ErrInvalidURI},
		{"query", "s3://bucket/x?region=us", creds, ErrInvalidURI},
		{"fragment", "s3://bucket/x#y", creds, ErrInvalidURI},
		{"bad bucket", "s3://B_!/x", creds, ErrInvalidURI},
		{"short bucket", "s3://ab", creds, ErrInvalidURI},
		{"dot-dot prefix", "s3://bucket/a/../../b", creds, ufs.ErrInvalidPath},
		{"unknown key", "s3://bucket", with("s3.endpiont", "x"), ErrInvalidOption},
		{"foreign key", "s3://bucket", with("file.sync", "true"), ErrInvalidOption},
		{"no endpoint", "s3://bucket", with(OptEndpoint, "<delete>"), ErrInvalidOption},
		{"endpoint path", "s3://bucket", with(OptEndpoint, "h:1/path"), ErrInvalidOption},
		{"endpoint scheme", "s3://bucket", with(OptEndpoint, "ftp://h"), ErrInvalidOption},
		{"secure contradicts", "s3://bucket", with(OptEndpoint, "http://h", OptSecure, "true"), ErrInvalidOption},
		{"secure not bool", "s3://bucket", with(OptSecure, "maybe"), ErrInvalidOption},
		{"access key alone", "s3://bucket", with(OptSecretKey, "<delete>"), ErrInvalidOption},
		{"part size small", "s3://bucket", with(OptPartSize, "1MiB"), ErrInvalidOption},
		{"part size large", "s3://bucket", with(OptPartSize, "6GiB"), ErrInvalidOption},
		{"part size zero", "s3://bucket", with(OptPartSize, "0"), ErrInvalidOption},
		{"part size words", "s3://bucket", with(OptPartSize, "big"), ErrInvalidOption},
		{"concurrency zero", "s3://bucket", with(OptConcurrency, "0"), ErrInvalidOption},
		{"concurrency words", "s3://bucket", with(OptConcurrency, "many"), ErrInvalidOption},
		{"concurrency huge", "s3://bucket", with(OptConcurrency, "1000"), ErrInvalidOption},
		{"part size overflow", "s3://bucket", with(OptPartSize, "18446744073709551615GiB"), ErrInvalidOption},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			bucket, prefix, opts, err := parse(u, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("parse(%q, %v) = %q, %q, %+v, %v; want an error wrapping %v", tt.uri, tt.opts, bucket, prefix, opts, err, tt.want)
			}
		})
	}
}

// FuzzParse checks that parse never panics and that what it accepts is what New
// accepts: a valid bucket, a clean prefix and valid options.
func FuzzParse(f *testing.F) {
	f.Add("s3://bucket/a/b", "s3.endpoint=h:1;s3.part-size=16MiB")
	f.Add("s3://b.c/..", "s3.endpoint=http://h;s3.secure=false")
	f.Add("s3:x", "s3.access-key=a")
	f.Add("s3://bucket/%00", "s3.endpoint=https://h/;s3.region=r")
	f.Fuzz(func(t *testing.T, uri, rawOpts string) {
		u, err := url.Parse(uri)
		if err != nil {
			return
		}
		opts := map[string]string{}
		for _, kv := range strings.Split(rawOpts, ";") {
			k, v, _ := strings.Cut(kv, "=")
			opts[k] = v
		}
		bucket, prefix, o, err := parse(u, opts)
		if err != nil {
			if !errors.Is(err, ErrInvalidURI) && !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("parse(%q, %q): %v wraps neither ErrInvalidURI nor ErrInvalidOption", uri, rawOpts, err)
			}
			return
		}
		if err := s3utils.CheckValidBucketName(bucket); err != nil {
			t.Errorf("parse(%q) accepted bucket %q: %v", uri, bucket, err)
		}
		if prefix != "" {
			if clean, err := ufs.CleanPath(prefix); err != nil || clean != "/"+prefix {
				t.Errorf("parse(%q) gave prefix %q, which is not clean (%q, %v)", uri, prefix, clean, err)
			}
		}
		if err := o.Validate(); err != nil {
			t.Errorf("parse(%q, %q) gave invalid options %+v: %v", uri, rawOpts, o, err)
		}
	})
}
