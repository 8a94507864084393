package executor

import (
	"context"
	"net"

	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/host"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/blocks"
)

// executorInfo describes this executor for RegisterExecutor: addresses, host, tiers with
// their capacity and use (from the block store), process and task.
func (e *Executor) executorInfo(store *blocks.Store) *sluicepb.ExecutorInfo {
	tiers := tierUsage(store.Usage())
	info := &sluicepb.ExecutorInfo{
		RpcAddress:  e.advertise(e.Addr()),
		Host:        e.cfg.AdvertiseHost,
		Pid:         int32(e.cfg.PID),
		Tiers:       tiers,
		StartTimeMs: e.start.UnixMilli(),
		TaskId:      e.cfg.TaskID,
		Version:     e.cfg.Version,
	}
	if h := e.HTTPAddr(); h != "" {
		info.HttpAddress = e.advertise(h)
	}
	for _, t := range tiers {
		info.CapacityBytes += t.CapacityBytes
		info.UsedBytes += t.UsedBytes
		info.BlockCount += t.BlockCount
	}
	for _, t := range e.cfg.Store.Tiers {
		if t.Alias == blocks.MEM && len(t.Dirs) > 0 {
			info.MemDir = t.Dirs[0].Path
		}
	}
	return info
}

// advertise replaces an unspecified listen host (0.0.0.0, ::) with AdvertiseHost.
func (e *Executor) advertise(addr string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort(e.cfg.AdvertiseHost, p)
	}
	return addr
}

// tierUsage converts the store's usage to the wire form, fastest tier first.
func tierUsage(us []blocks.TierUsage) []*sluicepb.TierUsage {
	out := make([]*sluicepb.TierUsage, 0, len(us))
	for i, u := range us {
		n := 0
		for _, d := range u.Dirs {
			n += d.Blocks
		}
		out = append(out, &sluicepb.TierUsage{
			Alias: string(u.Alias), Ordinal: int32(i),
			CapacityBytes: u.Capacity, UsedBytes: u.Used, BlockCount: int64(n),
		})
	}
	return out
}

// checkHost logs the host's facts (gopsutil) and warns about a MEM tier larger than the
// host's memory and about tier directories whose quota exceeds the size of the file
// system under them: such a tier would fail writes with ENOSPC before the store thinks
// it is full.
func (e *Executor) checkHost(ctx context.Context) {
	attrs := []any{"host", e.cfg.AdvertiseHost}
	if hi, err := host.InfoWithContext(ctx); err == nil {
		attrs = append(attrs, "os", hi.OS, "platform", hi.Platform, "kernel", hi.KernelVersion, "boot_time", hi.BootTime)
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err == nil {
		attrs = append(attrs, "mem_total", vm.Total, "mem_available", vm.Available)
		e.metrics.hostMemory.Set(float64(vm.Total))
	}
	e.log.Info("host facts", attrs...)
	var memQuota int64
	var memDirs []string
	for _, t := range e.cfg.Store.Tiers {
		if t.Alias == blocks.MEM {
			for _, d := range t.Dirs {
				memQuota += d.Quota
				memDirs = append(memDirs, d.Path)
			}
		}
	}
	e.checkHugePages(memDirs)
	if vm != nil && uint64(memQuota) > vm.Total {
		e.log.Warn("MEM tier quota exceeds the host's memory", "quota", memQuota, "mem_total", vm.Total)
	}
	for _, t := range e.cfg.Store.Tiers {
		for _, d := range t.Dirs {
			u, err := disk.UsageWithContext(ctx, d.Path)
			if err != nil {
				continue
			}
			if uint64(d.Quota) > u.Total {
				e.log.Warn("tier quota exceeds its file system", "tier", t.Alias, "dir", d.Path, "quota", d.Quota, "fs_total", u.Total, "fs_type", u.Fstype)
			}
		}
	}
}
