package main

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client/clienttest"
)

func TestReport(t *testing.T) {
	c := newClusterWith(t, clienttest.Options{Executors: []clienttest.ExecutorOptions{
		{}, {Host: "elsewhere.example", Capacity: 2 << 30},
	}})
	local, remote := c.Executors()[0], c.Executors()[1]
	mustRun(t, "hello world\n", "fs", "put", "-t", "MUST_CACHE", "-", "/hello")
	mustRun(t, "again", "fs", "put", "-t", "MUST_CACHE", "-", "/dir/again")
	mustRun(t, "kept", "fs", "put", "-t", "CACHE_THROUGH", "-", "/kept")
	pid := fmt.Sprint(os.Getpid())
	runCases(t, []cliCase{
		{name: "healthy", args: []string{"report"}, outHas: []string{
			"Master:          " + c.Address() + " (leader, raft Leader",
			"Capacity:        3.0GiB\n", "Executors:       2 live, 0 lost\n",
			"Files:           3 (2 not persisted, 0 to be persisted, 1 persisted, 0 lost)\n",
			"Directories:     2\n", "Cached blocks:   3\n", "Lost files: 0\n",
		}, match: `(?m)^\s+MEM\s+3\.0GiB\s+21B\s+0\.0%\s+3$`},
		{name: "raw", args: []string{"report", "--raw"}, outHas: []string{"Capacity:        3221225472\n"}},
	})
	// The executor on this host shows its process ID, the other one does not.
	r := runApp(t, "", "report")
	localRow := regexp.MustCompile(`(?m)^\s+` + fmt.Sprint(local.ID()) + `\s+` + regexp.QuoteMeta(local.Address()) + `\s+\S+\s+` + pid + `\s+LIVE\s`)
	remoteRow := regexp.MustCompile(`(?m)^\s+` + fmt.Sprint(remote.ID()) + `\s+` + regexp.QuoteMeta(remote.Address()) + `\s+elsewhere\.example\s+-\s+LIVE\s+2\.0GiB`)
	if !localRow.MatchString(r.out) || !remoteRow.MatchString(r.out) {
		t.Errorf("report executors: want the local one with pid %s and the remote one without:\n%s", pid, r.out)
	}

	c.LoseExecutor(local)
	runCases(t, []cliCase{
		{name: "lost", args: []string{"report"}, outHas: []string{
			"Executors:       1 live, 1 lost\n", "Lost files: 2\n", "  /dir/again (5B, no lineage)\n", "  /hello (12B, no lineage)\n",
		}, outNot: []string{local.Address()}},
		{name: "include lost", args: []string{"report", "--include-lost"}, match: regexp.QuoteMeta(local.Address()) + `\s+\S+\s+\S+\s+LOST\s`},
		{name: "truncated", args: []string{"report", "--max-lost-files", "1"}, outHas: []string{"  /dir/again (5B, no lineage)\n", "  … and 1 more\n"},
			outNot: []string{"/hello ("}},
		{name: "argument", args: []string{"report", "extra"}, code: 2, errHas: []string{"report: takes no arguments", "Usage: sluice report"}},
		{name: "negative", args: []string{"report", "--max-lost-files", "-1"}, code: 2},
		{name: "bad flag", args: []string{"report", "--nope"}, code: 2},
		{name: "unreachable", args: []string{"report", "--master", "nonsense"}, code: 1, errHas: []string{"report: "}},
	})

	r = runApp(t, "", "report", "--json", "--include-lost")
	if r.code != 0 {
		t.Fatalf("report --json: exit %d: %s", r.code, r.err)
	}
	var resp sluicepb.GetReportResponse
	if err := protojson.Unmarshal([]byte(r.out), &resp); err != nil {
		t.Fatalf("report --json is not a GetReportResponse: %v\n%s", err, r.out)
	}
	if resp.GetLostExecutors() != 1 || len(resp.GetExecutors()) != 2 || resp.GetPersistence().GetLost() != 2 || len(resp.GetLostFiles()) != 2 {
		t.Errorf("report --json: lost executors %d, executors %d, lost files %d (%d listed); want 1, 2, 2, 2",
			resp.GetLostExecutors(), len(resp.GetExecutors()), resp.GetPersistence().GetLost(), len(resp.GetLostFiles()))
	}
}

func TestIsLocalExecutor(t *testing.T) {
	for _, tc := range []struct {
		host, addr string
		want       bool
	}{
		{"me", "10.0.0.1:29998", true},
		{"other", "127.0.0.1:29998", false},
		{"", "127.0.0.1:29998", true},
		{"", "[::1]:29998", true},
		{"", "localhost:29998", true},
		{"", "10.0.0.1:29998", false},
		{"", "garbage", false},
	} {
		e := &sluicepb.ExecutorInfo{Host: tc.host, RpcAddress: tc.addr}
		if got := isLocalExecutor(e, "me"); got != tc.want {
			t.Errorf("isLocalExecutor(host %q, addr %q) = %v, want %v", tc.host, tc.addr, got, tc.want)
		}
	}
}
