package master

import (
	"fmt"
	"time"

	"github.com/sluicedata/sluice/lineage"
	"github.com/sluicedata/sluice/master/state"
)

// CheckpointConfig configures the checkpoint (persist) loop: the Edge planner's bounds
// and the throttle. Config.PersistConcurrency bounds the files persisted at once.
type CheckpointConfig struct {
	// Bandwidth bounds the bytes handed to persist tasks per second, averaged by a token
	// bucket of Burst bytes: a file starts only while the bucket holds tokens, and takes
	// its whole length from it (the bucket may go into debt, which the next files wait
	// out). 0 means unlimited.
	Bandwidth int64
	// Burst is the bucket's size in bytes; 0 means one second of Bandwidth.
	Burst int64
	// MaxBytesInFlight bounds the bytes being persisted at once; a larger file still goes
	// alone. At least 1.
	MaxBytesInFlight int64
	// MaxUncheckpointedDepth bounds the chain of un-checkpointed jobs a recovery may
	// rerun: the planner checkpoints the outputs that cut longer chains first. At least 1.
	MaxUncheckpointedDepth int
	// HotAccesses is the read count from which an intermediate output is hot and goes
	// before cold ones. At least 1.
	HotAccesses int64
	// ThroughputWindow is the sliding window over which checkpoint throughput is
	// measured (GetCheckpointStatus, /metrics). Positive.
	ThroughputWindow time.Duration
}

// DefaultCheckpointConfig returns the defaults: no bandwidth bound, the Edge planner's
// defaults (1 GiB in flight, chains of at most 3 un-checkpointed jobs, hot from 2
// reads) and a one-minute throughput window.
func DefaultCheckpointConfig() CheckpointConfig {
	e := lineage.DefaultEdgeConfig()
	return CheckpointConfig{
		MaxBytesInFlight:       e.MaxBytesInFlight,
		MaxUncheckpointedDepth: e.MaxUncheckpointedDepth,
		HotAccesses:            e.HotAccesses,
		ThroughputWindow:       time.Minute,
	}
}

// Validate reports a field out of range, wrapping ErrInvalidConfig.
func (c CheckpointConfig) Validate() error {
	switch {
	case c.Bandwidth < 0 || c.Burst < 0:
		return fmt.Errorf("checkpoint bandwidth %d and burst %d must not be negative: %w", c.Bandwidth, c.Burst, ErrInvalidConfig)
	case c.MaxBytesInFlight < 1 || c.MaxUncheckpointedDepth < 1 || c.HotAccesses < 1:
		return fmt.Errorf("checkpoint MaxBytesInFlight, MaxUncheckpointedDepth and HotAccesses must be at least 1: %w", ErrInvalidConfig)
	case c.ThroughputWindow <= 0:
		return fmt.Errorf("checkpoint ThroughputWindow %v must be positive: %w", c.ThroughputWindow, ErrInvalidConfig)
	}
	return nil
}

// edge returns the planner's configuration.
func (c CheckpointConfig) edge(concurrency int) lineage.EdgeConfig {
	return lineage.EdgeConfig{MaxInFlight: concurrency, MaxBytesInFlight: c.MaxBytesInFlight,
		MaxUncheckpointedDepth: c.MaxUncheckpointedDepth, HotAccesses: c.HotAccesses}
}

// tokenBucket throttles checkpoint bytes. Not safe for concurrent use: the persister's
// lock guards it.
type tokenBucket struct {
	rate   float64 // bytes per second; 0: unlimited
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate, burst int64) tokenBucket {
	if burst == 0 {
		burst = rate
	}
	return tokenBucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst)}
}

// ready refills the bucket up to now and reports whether a file may start: whenever
// the bucket holds tokens, however large the file, so that no file waits forever; the
// debt a large file leaves (spend) delays the next ones.
func (b *tokenBucket) ready(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
	return b.tokens > 0
}

// spend takes the bytes of a file that starts.
func (b *tokenBucket) spend(n int64) {
	if b.rate > 0 {
		b.tokens -= float64(n)
	}
}

// throughput measures bytes persisted over a sliding window. Not safe for concurrent
// use: the persister's lock guards it.
type throughput struct {
	window time.Duration
	events []persistedBytes
}

type persistedBytes struct {
	at    time.Time
	bytes int64
}

// add records n bytes persisted at now.
func (t *throughput) add(now time.Time, n int64) {
	t.trim(now)
	t.events = append(t.events, persistedBytes{now, n})
}

// trim drops the events older than the window.
func (t *throughput) trim(now time.Time) {
	i := 0
	for i < len(t.events) && now.Sub(t.events[i].at) > t.window {
		i++
	}
	t.events = t.events[i:]
}

// rate returns the bytes per second persisted over the window ending at now.
func (t *throughput) rate(now time.Time) float64 {
	t.trim(now)
	var sum int64
	for _, e := range t.events {
		sum += e.bytes
	}
	return float64(sum) / t.window.Seconds()
}

// checkpointStats summarises what waits for a checkpoint, as of the last planning round.
type checkpointStats struct {
	files int
	bytes int64
	// oldest is the completion time of the oldest waiting file; zero when none waits.
	oldest time.Time
}

// checkpointable reports whether the persist loop checkpoints a file without being
// asked: TO_BE_PERSISTED files (ASYNC_THROUGH writes, `fs persist`), and complete,
// un-persisted outputs of the recorded lineage job producer. Plain MUST_CACHE files are
// not.
func checkpointable(in state.Inode, producer uint64) bool {
	switch {
	case in.Directory || !in.Complete:
		return false
	case in.PersistenceState == state.ToBePersisted:
		return true
	}
	return in.PersistenceState == state.NotPersisted && in.JobID != 0 && in.JobID == producer
}

// checkpointThroughput returns the bytes per second checkpointed over
// CheckpointConfig.ThroughputWindow (GetCheckpointStatus, /metrics).
func (m *Master) checkpointThroughput() float64 {
	q := m.persist
	q.mu.Lock()
	defer q.mu.Unlock()
	q.configure(m.cfg.Checkpoint)
	return q.thru.rate(q.now())
}
