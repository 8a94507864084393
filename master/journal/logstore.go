package journal

import (
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// countingStore is the Raft log store with counts of its writes and of the entries they
// carried: entries per write is how well group commit works (each write is one bbolt
// transaction with its fsyncs). Safe for concurrent use.
type countingStore struct {
	raft.LogStore
	writes, entries atomic.Uint64
}

// StoreLog stores one entry as a write of its own.
func (s *countingStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores logs in one write and counts it when it succeeded.
func (s *countingStore) StoreLogs(logs []*raft.Log) error {
	if err := s.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	s.writes.Add(1)
	s.entries.Add(uint64(len(logs)))
	return nil
}

// LogWrites returns how many log writes this master made since Open and how many
// entries they stored: the leader's entries, or what a follower received.
func (j *Journal) LogWrites() (writes, entries uint64) {
	return j.counted.writes.Load(), j.counted.entries.Load()
}
