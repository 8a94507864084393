package journal

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/sluicedata/sluice/master/state"
)

// BenchmarkJournal_Apply measures one acknowledged CreateFile on a single-node journal
// (bbolt log with fsync), with 1 and 8 callers per GOMAXPROCS (Raft batches the
// entries of concurrent callers into one fsync).
func BenchmarkJournal_Apply(b *testing.B) {
	for _, callers := range []int{1, 8} {
		b.Run(fmt.Sprint("parallelism", callers), func(b *testing.B) {
			_, trans := raft.NewInmemTransport("node")
			st := state.New()
			j, err := Open(fastConfig(b, b.TempDir(), trans), st)
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			c := newClient(b, j, st)
			var n atomic.Int64
			b.SetParallelism(callers)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.apply(state.EntryCreateFile, c.createEntry(fmt.Sprintf("/f%d", n.Add(1)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
