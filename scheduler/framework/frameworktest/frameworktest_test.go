package frameworktest_test

import (
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/framework"
	"github.com/sluicedata/sluice/scheduler/framework/frameworktest"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestServe(t *testing.T) {
	fake := schedulertest.NewFakeBackend(schedulertest.FakeConfig{})
	t.Cleanup(func() { fake.Close() })
	cfg := scheduler.DefaultConfig()
	cfg.Backend = fake
	sched, err := scheduler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := frameworktest.Serve(t, framework.ServerConfig{Scheduler: sched})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := sluicepb.NewFrameworkSchedulerClient(conn)
	schedulertest.Eventually(t, "a launch", func() bool {
		resp, err := c.LaunchJob(t.Context(), &sluicepb.LaunchJobRequest{JobId: "1", Attempt: 1, Command: []string{"/bin/true"}})
		if err != nil && status.Code(err) != codes.Unavailable {
			t.Fatal(err)
		}
		return err == nil && resp.GetTaskId() != ""
	})
	if n := len(fake.Launches()); n != 1 {
		t.Fatalf("%d launches, want 1", n)
	}
}
