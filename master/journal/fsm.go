package journal

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/raft"

	"github.com/sluicedata/sluice/master/state"
)

// fsm adapts state.State to raft.FSM. Raft calls Apply, Snapshot and Restore from its
// one FSM goroutine, and Persist from another, while applies go on.
type fsm struct {
	st     *state.State
	logger *slog.Logger
	// results takes the results of the entries this master's Apply calls wait for.
	results *deliveries
}

var _ raft.FSM = (*fsm)(nil)

// Apply applies a committed entry and returns its state.Result, which becomes the
// response of the leader's ApplyFuture. Undecodable entries panic (see state.Apply).
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	res := f.st.Apply(l.Index, l.Data)
	f.results.deliver(l.Extensions, res)
	return res
}

// Snapshot takes the current immutable View: O(1), no copy, no I/O.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{view: f.st.View(), logger: f.logger}, nil
}

// Restore replaces the state by a snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.st.Restore(rc); err != nil {
		return fmt.Errorf("journal: restore snapshot: %w", err)
	}
	v := f.st.View()
	f.logger.Info("restored snapshot", "raft_index", v.AppliedIndex(), "files", v.Counts().Files)
	return nil
}

// fsmSnapshot writes one View out; the View never changes, so Persist may take as long
// as the disk needs while the state goes on.
type fsmSnapshot struct {
	view   *state.View
	logger *slog.Logger
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.view.WriteSnapshot(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("journal: write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("journal: close snapshot: %w", err)
	}
	s.logger.Debug("wrote snapshot", "raft_index", s.view.AppliedIndex(), "snapshot_id", sink.ID())
	return nil
}

func (s *fsmSnapshot) Release() {}
