package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluicedata/sluice/internal/toolbin"
)

// MinIOVersion is the MinIO version scripts/tools.sh builds; it names its cache folder
// (internal/miniotest.Version, which a test keeps equal).
const MinIOVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// minioRegion is the region the server reports.
const minioRegion = "us-east-1"

// ErrNoMinIO is returned by FindMinIO when no MinIO binary is found.
var ErrNoMinIO = errors.New("bench: no MinIO binary")

// FindMinIO looks for the MinIO binary in $SLUICE_MINIO_BIN, the cache folder of
// scripts/tools.sh and $PATH, in that order (internal/toolbin), reading the variables
// through getenv. Its errors wrap ErrNoMinIO.
func FindMinIO(getenv func(string) string) (string, error) {
	p, err := toolbin.FindIn(getenv, "SLUICE_MINIO_BIN", "minio", MinIOVersion)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoMinIO, err)
	}
	return p, nil
}

// MinIO is a MinIO server process started by StartMinIO, with one bucket.
type MinIO struct {
	// Target is its endpoint, root credentials and bucket.
	Target S3Target
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartMinIO starts the MinIO binary on loopback ports with its data in dir (which it
// must own: Stop leaves it to the caller), waits until it is live and creates a bucket.
// Nothing leaves 127.0.0.1: no console, no update check. The server logs to dir/minio.log.
func StartMinIO(ctx context.Context, bin, dir string) (*MinIO, error) {
	secret := make([]byte, 20)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	m := &MinIO{Target: S3Target{
		AccessKey: "sluicebench", SecretKey: hex.EncodeToString(secret),
		Region: minioRegion, Bucket: "sluice-bench",
	}, exited: make(chan struct{})}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	console, err := freeAddr()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	m.cmd = exec.Command(bin, "server", "--quiet", "--anonymous", "--address", addr,
		"--console-address", console, "--certs-dir", filepath.Join(dir, "certs"), filepath.Join(dir, "data"))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			m.cmd.Env = append(m.cmd.Env, kv)
		}
	}
	m.cmd.Env = append(m.cmd.Env, "MINIO_ROOT_USER="+m.Target.AccessKey, "MINIO_ROOT_PASSWORD="+m.Target.SecretKey,
		"MINIO_REGION="+minioRegion, "MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CALLHOME_ENABLE=off", "MINIO_CI_CD=on")
	m.cmd.Stdout, m.cmd.Stderr = log, log
	// Its own process group: a Ctrl-C in the terminal reaches the benchmark, which stops
	// MinIO after it has removed its objects. Pdeathsig ends it should the benchmark die
	// without stopping it (SIGKILL), as the local scheduler backend does for executors.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start MinIO: %w", err)
	}
	go func() { m.cmd.Wait(); close(m.exited) }()
	m.Target.Endpoint = addr
	if err := m.waitLive(ctx); err != nil {
		return nil, errors.Join(err, m.Stop())
	}
	mc, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(m.Target.AccessKey, m.Target.SecretKey, ""), Region: minioRegion})
	if err == nil {
		err = mc.MakeBucket(ctx, m.Target.Bucket, minio.MakeBucketOptions{Region: minioRegion})
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("MinIO bucket: %w", err), m.Stop())
	}
	return m, nil
}

// waitLive polls the liveness endpoint until it answers 200, the process exits, ctx
// ends or a minute passes.
func (m *MinIO) waitLive(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second}
	url := "http://" + m.Target.Endpoint + "/minio/health/live"
	return Poll(ctx, time.Minute, 50*time.Millisecond, func() (bool, error) {
		select {
		case <-m.exited:
			return false, errors.New("MinIO exited before it was live (see minio.log)")
		default:
		}
		resp, err := hc.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// Stop sends SIGTERM, waits up to 10 s, then kills the process; it returns once the
// process is gone.
func (m *MinIO) Stop() error {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	return nil
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
