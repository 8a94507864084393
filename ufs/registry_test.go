package ufs_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/sluicedata/sluice/ufs"
)

// recordingFactory returns a Factory that stores the URL and options it is given and
// opens nothing (a nil FS).
func recordingFactory(gotURL **url.URL, gotOpts *map[string]string) ufs.Factory {
	return func(_ context.Context, u *url.URL, options map[string]string) (ufs.FS, error) {
		*gotURL, *gotOpts = u, options
		return nil, nil
	}
}

func TestRegistry_Open(t *testing.T) {
	var gotURL *url.URL
	var gotOpts map[string]string
	errOpen := errors.New("open failed")
	reg := ufs.Registry{
		"file": recordingFactory(&gotURL, &gotOpts),
		"s3":   recordingFactory(&gotURL, &gotOpts),
		"fail": func(context.Context, *url.URL, map[string]string) (ufs.FS, error) { return nil, errOpen },
	}
	tests := []struct {
		uri        string
		wantScheme string
		wantPath   string
		wantErr    error
	}{
		{uri: "file:///var/ufs", wantScheme: "file", wantPath: "/var/ufs"},
		{uri: "s3://bucket/prefix", wantScheme: "s3", wantPath: "/prefix"},
		{uri: "fail://x", wantErr: errOpen},
		{uri: "bucket/x", wantErr: ufs.ErrUnknownScheme},
		{uri: "/var/ufs", wantErr: ufs.ErrUnknownScheme},
		{uri: "hdfs://nn/x", wantErr: ufs.ErrUnknownScheme},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			gotURL, gotOpts = nil, nil
			opts := map[string]string{"k": "v"}
			_, err := reg.Open(t.Context(), tt.uri, opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open(%q): %v, want %v", tt.uri, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.uri, err)
			}
			if gotURL == nil || gotURL.Scheme != tt.wantScheme || gotURL.Path != tt.wantPath || gotOpts["k"] != "v" {
				t.Errorf("factory got %v, %v; want scheme %s, path %s and the options", gotURL, gotOpts, tt.wantScheme, tt.wantPath)
			}
		})
	}
	if _, err := reg.Open(t.Context(), "file://%zz", nil); err == nil || errors.Is(err, ufs.ErrUnknownScheme) {
		t.Errorf("Open of an unparsable URI: %v, want a parse error", err)
	}
}

func TestRegistry_Schemes(t *testing.T) {
	reg := ufs.Registry{"s3": nil, "file": nil, "hdfs": nil}
	if got, want := reg.Schemes(), []string{"file", "hdfs", "s3"}; !slices.Equal(got, want) {
		t.Errorf("Schemes() = %v, want %v", got, want)
	}
	if got := (ufs.Registry{}).Schemes(); len(got) != 0 {
		t.Errorf("Schemes() of an empty registry = %v", got)
	}
}
