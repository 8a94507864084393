package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sluicedata/sluice/internal/toolbin"
)

// Version is the MinIO version scripts/tools.sh builds; it names the cache folder.
const Version = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Region is the region the server reports; clients that set it skip a location lookup.
const Region = "us-east-1"

const (
	// startTimeout bounds the wait for /minio/health/live; generous because a loaded
	// CI machine running -race tests may start MinIO slowly.
	startTimeout = 60 * time.Second
	// stopGrace is how long a SIGTERM gets before the process is killed.
	stopGrace = 10 * time.Second
	// startAttempts retries a start whose port was taken between probe and bind.
	startAttempts = 3
)

// Server is a running MinIO process. Its fields are read-only.
type Server struct {
	// Endpoint is the API address, "127.0.0.1:port" (plain HTTP).
	Endpoint string
	// AccessKey and SecretKey are the root credentials, random per server.
	AccessKey string
	SecretKey string

	logPath string
}

// Start starts a MinIO server for t and stops it when t ends. It skips t (or fails it
// under CI=true) when no MinIO binary can be found.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		msg := fmt.Sprintf("miniotest: no MinIO binary (%v); run `make test`, which builds it, or set SLUICE_MINIO_BIN", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{
		AccessKey: "sluice" + randomHex(t, 6),
		SecretKey: randomHex(t, 20),
		logPath:   filepath.Join(t.TempDir(), "minio.log"),
	}
	dataDir := t.TempDir()
	certsDir := t.TempDir()
	var lastErr error
	for range startAttempts {
		if lastErr = s.start(t, bin, dataDir, certsDir); lastErr == nil {
			return s
		}
	}
	t.Fatalf("miniotest: start %s: %v\nlog tail:\n%s", bin, lastErr, s.logTail())
	return nil
}

// start runs one attempt to launch the binary on fresh loopback ports and waits until
// it is live. On failure the process is gone when start returns.
func (s *Server) start(t testing.TB, bin, dataDir, certsDir string) error {
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	consoleAddr, err := freeAddr()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin, "server", "--quiet", "--anonymous",
		"--address", apiAddr, "--console-address", consoleAddr,
		"--certs-dir", certsDir, dataDir)
	cmd.Env = append(environWithoutMinIO(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_REGION="+Region,
		// Nothing may leave 127.0.0.1: no console, no update check, no call-home.
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
		// CI/CD mode keeps MinIO's buffer pool small (256 MiB) on test machines.
		"MINIO_CI_CD=on",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(stopGrace)
		defer timer.Stop()
		select {
		case <-exited:
		case <-timer.C:
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	if err := waitLive(apiAddr, exited); err != nil {
		stop()
		if errors.Is(err, errExited) {
			return fmt.Errorf("%w: %v", err, waitErr)
		}
		return err
	}
	s.Endpoint = apiAddr
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("miniotest: log tail of %s:\n%s", apiAddr, s.logTail())
		}
	})
	return nil
}

var errExited = errors.New("minio exited before it was live")

// waitLive polls the liveness endpoint until it answers 200, the process exits or the
// start deadline passes.
func waitLive(addr string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	url := "http://" + addr + "/minio/health/live"
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errExited
		case <-deadline.C:
			return fmt.Errorf("not live after %v (last: %v)", startTimeout, err)
		case <-tick.C:
		}
	}
}

// Client returns a minio-go client with the root credentials of s.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: Region,
	})
	if err != nil {
		t.Fatalf("miniotest: client: %v", err)
	}
	return c
}

// NewBucket creates a bucket with a fresh random name and returns the name. The bucket
// lives as long as the server.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "sluice-" + randomHex(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client(t).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("miniotest: make bucket %s: %v", name, err)
	}
	return name
}

// findBinary looks for MinIO in $SLUICE_MINIO_BIN, the cache folder of scripts/tools.sh
// and $PATH, in that order.
func findBinary() (string, error) {
	return toolbin.Find("SLUICE_MINIO_BIN", "minio", Version)
}

// environWithoutMinIO is the test's environment minus MINIO_* variables, so that a
// developer's own MinIO settings cannot point the server elsewhere.
func environWithoutMinIO() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return env
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

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("miniotest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// logTail returns the last few KiB of the server's log.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
