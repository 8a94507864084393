package frameworktest

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/scheduler/framework"
)

// Serve runs cfg.Scheduler and a framework.Server built from cfg, serving on a free
// port of 127.0.0.1, until the test's cleanup (which waits for both to stop; close
// client connections first, in a cleanup registered later). It returns the server and
// its address. Errors of the runs fail the test.
func Serve(t testing.TB, cfg framework.ServerConfig) (*framework.Server, string) {
	t.Helper()
	srv, err := framework.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := cfg.Scheduler.Run(ctx); err != nil {
			t.Errorf("scheduler run: %v", err)
		}
	})
	wg.Go(func() {
		if err := srv.Serve(ctx, lis); err != nil {
			t.Errorf("framework serve: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return srv, lis.Addr().String()
}
