package clusterbench

import "testing"

func BenchmarkTmpMeta1(b *testing.B) {
	skipShort(b)
	full := newMetaEnv(b, benchStatFiles)
	m := *full
	m.clients, m.stub = full.clients[:1], full.stub[:1]
	b.Run("create", func(b *testing.B) {
		m.benchOps(b, createsPerClient*4, createTarget, "creates", createOp)
	})
	b.Run("getStatus", func(b *testing.B) {
		m.benchOps(b, statsPerClient*2, statTarget, "getStatus", m.statOp)
	})
}
