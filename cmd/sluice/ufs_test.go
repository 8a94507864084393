package main

import (
	"errors"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/ufs/s3"
)

func TestS3Options(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts map[string]string
		env  map[string]string
		want map[string]string
	}{
		{"nothing", nil, nil, map[string]string{}},
		{
			"sluice variables first",
			nil,
			map[string]string{
				"SLUICE_S3_ENDPOINT": "127.0.0.1:9000", "AWS_ENDPOINT_URL": "https://aws",
				"SLUICE_S3_ACCESS_KEY": "sa", "SLUICE_S3_SECRET_KEY": "ss", "AWS_ACCESS_KEY_ID": "aa", "AWS_SECRET_ACCESS_KEY": "as",
				"AWS_REGION": "eu-west-1", "SLUICE_S3_SECURE": "false", "SLUICE_S3_PART_SIZE": "8MiB", "SLUICE_S3_CONCURRENCY": "3",
			},
			map[string]string{
				s3.OptEndpoint: "127.0.0.1:9000", s3.OptAccessKey: "sa", s3.OptSecretKey: "ss", s3.OptRegion: "eu-west-1",
				s3.OptSecure: "false", s3.OptPartSize: "8MiB", s3.OptConcurrency: "3",
			},
		},
		{
			"AWS variables",
			nil,
			map[string]string{"AWS_ENDPOINT_URL": "https://aws", "AWS_ENDPOINT_URL_S3": "https://s3.aws", "AWS_ACCESS_KEY_ID": "aa", "AWS_SECRET_ACCESS_KEY": "as", "AWS_DEFAULT_REGION": "us-east-2"},
			map[string]string{s3.OptEndpoint: "https://s3.aws", s3.OptAccessKey: "aa", s3.OptSecretKey: "as", s3.OptRegion: "us-east-2"},
		},
		{
			"mount options win",
			map[string]string{s3.OptEndpoint: "mine:1", s3.OptRegion: ""},
			map[string]string{"SLUICE_S3_ENDPOINT": "env:2", "SLUICE_S3_REGION": "r"},
			map[string]string{s3.OptEndpoint: "mine:1", s3.OptRegion: ""},
		},
		{
			"credentials only as a pair",
			map[string]string{s3.OptAccessKey: "mine"},
			map[string]string{"AWS_ACCESS_KEY_ID": "aa", "AWS_SECRET_ACCESS_KEY": "as"},
			map[string]string{s3.OptAccessKey: "mine"},
		},
		{
			"half a pair in the environment is ignored",
			nil,
			map[string]string{"SLUICE_S3_ACCESS_KEY": "sa", "AWS_ACCESS_KEY_ID": "aa", "AWS_SECRET_ACCESS_KEY": "as"},
			map[string]string{s3.OptAccessKey: "aa", s3.OptSecretKey: "as"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before map[string]string
			if tc.opts != nil {
				before = map[string]string{}
				for k, v := range tc.opts {
					before[k] = v
				}
			}
			got := s3Options(tc.opts, func(k string) string { return tc.env[k] })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.opts); diff != "" {
				t.Errorf("the caller's options changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestUFSRegistry_S3UsesEnvironment(t *testing.T) {
	reg := ufsRegistry(func(string) string { return "" })
	if diff := cmp.Diff([]string{"file", "s3"}, reg.Schemes()); diff != "" {
		t.Fatalf("schemes (-want +got):\n%s", diff)
	}
	// Without an endpoint anywhere, the s3 backend refuses the mount; with one from the
	// environment, it gets past option checking (and fails later, with a bad option).
	u, _ := url.Parse("s3://bucket/prefix")
	if _, err := reg["s3"](t.Context(), u, nil); !errors.Is(err, s3.ErrInvalidOption) {
		t.Fatalf("no endpoint: %v, want ErrInvalidOption", err)
	}
	reg = ufsRegistry(func(k string) string {
		return map[string]string{"SLUICE_S3_ENDPOINT": "127.0.0.1:1", "SLUICE_S3_CONCURRENCY": "many"}[k]
	})
	_, err := reg["s3"](t.Context(), u, nil)
	if !errors.Is(err, s3.ErrInvalidOption) {
		t.Fatalf("bad concurrency from the environment: %v, want ErrInvalidOption", err)
	}
}
