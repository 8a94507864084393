package client

import "sync/atomic"

// Stats are the client's cumulative data-path counters since New. They are cheap atomic
// counters meant for benchmarks and tests, not a metrics system.
type Stats struct {
	// BytesReadShortCircuit counts bytes read directly from block files on this host.
	BytesReadShortCircuit int64
	// BytesReadRemote counts bytes streamed from executors' tiers.
	BytesReadRemote int64
	// BytesReadUFS counts bytes streamed by executors from the UFS.
	BytesReadUFS int64
	// BytesWrittenShortCircuit counts bytes written directly into block files on this host.
	BytesWrittenShortCircuit int64
	// BytesWrittenRemote counts bytes streamed to executors as blocks.
	BytesWrittenRemote int64
	// BytesWrittenUFS counts bytes streamed to executors for THROUGH writes.
	BytesWrittenUFS int64
	// ReadFallbacks counts reads that resumed on another copy, executor or the UFS after a
	// source failed.
	ReadFallbacks int64
	// LeaderRedirects counts NOT_LEADER answers followed to another master.
	LeaderRedirects int64
	// BlocksLoaded counts blocks cached by Load.
	BlocksLoaded int64
}

// counters holds the live values behind Stats.
type counters struct {
	readSC, readRemote, readUFS    atomic.Int64
	writeSC, writeRemote, writeUFS atomic.Int64
	readFallbacks, leaderRedirects atomic.Int64
	blocksLoaded                   atomic.Int64
}

// Stats returns a snapshot of the client's counters. It is safe to call concurrently.
func (c *Client) Stats() Stats {
	s := &c.stats
	return Stats{
		BytesReadShortCircuit:    s.readSC.Load(),
		BytesReadRemote:          s.readRemote.Load(),
		BytesReadUFS:             s.readUFS.Load(),
		BytesWrittenShortCircuit: s.writeSC.Load(),
		BytesWrittenRemote:       s.writeRemote.Load(),
		BytesWrittenUFS:          s.writeUFS.Load(),
		ReadFallbacks:            s.readFallbacks.Load(),
		LeaderRedirects:          s.leaderRedirects.Load(),
		BlocksLoaded:             s.blocksLoaded.Load(),
	}
}
