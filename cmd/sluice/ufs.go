package main

import (
	"context"
	"maps"
	"net/url"

	"github.com/sluicedata/sluice/ufs"
	"github.com/sluicedata/sluice/ufs/local"
	"github.com/sluicedata/sluice/ufs/s3"
)

// ufsRegistry is the one place that decides which UFS schemes this binary speaks:
// file:// (ufs/local) and s3:// (ufs/s3). Masters and executors get the same registry.
//
// The s3 backend reads no environment, so the registry fills the options a mount did
// not give from the environment, Sluice's own variables first, then the AWS SDK's:
//
//	s3.endpoint                 SLUICE_S3_ENDPOINT, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL
//	s3.access-key, s3.secret-key SLUICE_S3_ACCESS_KEY + SLUICE_S3_SECRET_KEY,
//	                            else AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (as a pair)
//	s3.region                   SLUICE_S3_REGION, AWS_REGION, AWS_DEFAULT_REGION
//	s3.secure                   SLUICE_S3_SECURE
//	s3.part-size                SLUICE_S3_PART_SIZE
//	s3.concurrency              SLUICE_S3_CONCURRENCY
//
// Credentials are taken as a pair: when a mount gives either key, none comes from the
// environment, so a mount never mixes its access key with another secret.
func ufsRegistry(getenv func(string) string) ufs.Registry {
	return ufs.Registry{
		"file": local.Factory,
		"s3":   s3FromEnv(getenv),
	}
}

// s3EnvOptions lists, per s3 option, the environment variables that may supply it, in
// order of preference.
var s3EnvOptions = []struct {
	opt  string
	envs []string
}{
	{s3.OptEndpoint, []string{"SLUICE_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}},
	{s3.OptRegion, []string{"SLUICE_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"}},
	{s3.OptSecure, []string{"SLUICE_S3_SECURE"}},
	{s3.OptPartSize, []string{"SLUICE_S3_PART_SIZE"}},
	{s3.OptConcurrency, []string{"SLUICE_S3_CONCURRENCY"}},
}

// s3Credentials are the environment variable pairs of static credentials, in order.
var s3Credentials = [][2]string{
	{"SLUICE_S3_ACCESS_KEY", "SLUICE_S3_SECRET_KEY"},
	{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
}

// s3FromEnv wraps s3.Factory so that options missing from a mount come from getenv.
func s3FromEnv(getenv func(string) string) ufs.Factory {
	return func(ctx context.Context, u *url.URL, options map[string]string) (ufs.FS, error) {
		return s3.Factory(ctx, u, s3Options(options, getenv))
	}
}

// s3Options returns a copy of options completed from the environment (see ufsRegistry).
// The caller's map is never changed.
func s3Options(options map[string]string, getenv func(string) string) map[string]string {
	out := maps.Clone(options)
	if out == nil {
		out = map[string]string{}
	}
	for _, o := range s3EnvOptions {
		if _, ok := out[o.opt]; ok {
			continue
		}
		for _, e := range o.envs {
			if v := getenv(e); v != "" {
				out[o.opt] = v
				break
			}
		}
	}
	_, hasAccess := out[s3.OptAccessKey]
	_, hasSecret := out[s3.OptSecretKey]
	if !hasAccess && !hasSecret {
		for _, pair := range s3Credentials {
			if a, s := getenv(pair[0]), getenv(pair[1]); a != "" && s != "" {
				out[s3.OptAccessKey], out[s3.OptSecretKey] = a, s
				break
			}
		}
	}
	return out
}
