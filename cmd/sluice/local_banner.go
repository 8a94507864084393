package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/scheduler"
)

// bannerWait bounds how long `sluice local` waits for its executors to register before
// it prints what it started anyway.
const bannerWait = 10 * time.Second

// banner waits until every executor slot runs and has registered with the master (at
// most bannerWait), then prints what runs where and how to use it.
func (lc *localCluster) banner(ctx context.Context, start time.Time) {
	registered := lc.waitRegistered(ctx)
	if ctx.Err() != nil {
		return
	}
	o := lc.opts
	var b strings.Builder
	fmt.Fprintf(&b, "Sluice local cluster started in %v (data in %s)\n", time.Since(start).Round(time.Millisecond), o.DataDir)
	fmt.Fprintf(&b, "  master      %s   journal %s, UFS %s\n", lc.master.Addr(),
		filepath.Join(o.DataDir, "journal"), fileURI(filepath.Join(o.DataDir, "ufs")))
	if h := lc.master.HTTPAddr(); h != "" {
		fmt.Fprintf(&b, "  web UI      http://%s/\n", h)
	}
	for _, st := range lc.sched.Executors() {
		addr, mem := "(not registered yet)", o.memDir(st.Index)
		if info, ok := registered[st.TaskID]; ok {
			addr = info.GetRpcAddress()
		}
		fmt.Fprintf(&b, "  %-11s %s   pid %d, task %s, MEM %s (%s)\n", st.Slot, addr, st.PID, st.TaskID, mem, o.MemSize)
	}
	fmt.Fprintf(&b, "  logs        %s\n", filepath.Join(o.DataDir, "logs"))
	if len(registered) < o.Executors {
		fmt.Fprintf(&b, "Some executors have not registered yet; their logs may tell why.\n")
	}
	fmt.Fprintf(&b, "Try:\n")
	if lc.master.Addr() != client.DefaultMasterAddress {
		fmt.Fprintf(&b, "  export %s=%s\n", envName(masterFlagName), lc.master.Addr())
	}
	for _, cmd := range []string{"fs put README.md /", "fs ls /", "fs cat /README.md", "report"} {
		fmt.Fprintf(&b, "  sluice %s\n", cmd)
	}
	fmt.Fprintf(&b, "Press Ctrl-C to stop.\n")
	fmt.Fprint(lc.out, b.String())
}

// waitRegistered waits until every executor slot runs a task that the master lists as
// registered, or bannerWait passes, and returns the registered executors by task ID.
func (lc *localCluster) waitRegistered(ctx context.Context) map[scheduler.TaskID]*sluicepb.ExecutorInfo {
	ctx, cancel := context.WithTimeout(ctx, bannerWait)
	defer cancel()
	cfg := client.DefaultConfig()
	cfg.Masters = []string{lc.master.Addr()}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cl, err := client.New(ctx, cfg)
	if err != nil {
		lc.log.Warn("cannot ask the master for its executors", "err", err)
		return nil
	}
	defer cl.Close()
	got := map[scheduler.TaskID]*sluicepb.ExecutorInfo{}
	_ = waitUntil(ctx, func() bool {
		infos, err := cl.Executors(ctx, false)
		if err != nil {
			return false
		}
		clear(got)
		for _, info := range infos {
			got[scheduler.TaskID(info.GetTaskId())] = info
		}
		slots := lc.sched.Executors()
		if len(slots) < lc.opts.Executors {
			return false
		}
		for _, st := range slots {
			if st.TaskID == "" || got[st.TaskID] == nil {
				return false
			}
		}
		return true
	})
	return got
}
