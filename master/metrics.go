package master

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/master/state"
)

// metrics are the master's Prometheus metrics. Gauges are computed at scrape time from
// the state, the block master and the persist queue.
type metrics struct {
	reg        *prometheus.Registry
	rpcs       *prometheus.CounterVec
	rpcSeconds *prometheus.HistogramVec
	// byMethod caches *methodMetrics by full method name.
	byMethod      sync.Map
	persisted     prometheus.Counter
	filesLost     prometheus.Counter
	executorsLost prometheus.Counter
}

func newMetrics(m *Master, reg *prometheus.Registry) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	mt := &metrics{
		reg: reg,
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "master",
			Name: "rpcs_total", Help: "gRPC calls by method and status code."}, []string{"method", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "sluice", Subsystem: "master",
			Name: "rpc_duration_seconds", Help: "gRPC call latency by method.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)},
			[]string{"method"}),
		persisted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "master",
			Name: "files_persisted_total", Help: "Files checkpointed to the UFS by the persist loop."}),
		filesLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "master",
			Name: "files_marked_lost_total", Help: "Files marked LOST."}),
		executorsLost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "master",
			Name: "executors_marked_lost_total", Help: "Executors declared lost."}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "master", Name: name, Help: help}, f)
	}
	countFiles := func(s state.PersistenceState) func() float64 {
		return func() float64 {
			n := 0
			for range m.st.View().FilesByPersistence(s) {
				n++
			}
			return float64(n)
		}
	}
	executors := func(st sluicepb.ExecutorState) func() float64 {
		return func() float64 {
			n := 0
			for _, e := range m.blocks.list(true) {
				if e.GetState() == st {
					n++
				}
			}
			return float64(n)
		}
	}
	raftState := func(s string) func() float64 {
		return func() float64 {
			if m.serving.Load() && strings.EqualFold(m.j.Stats()["state"], s) {
				return 1
			}
			return 0
		}
	}
	cols := []prometheus.Collector{mt.rpcs, mt.rpcSeconds, mt.persisted, mt.filesLost, mt.executorsLost,
		gauge("files", "Files in the namespace.", func() float64 { return float64(m.st.View().Counts().Files) }),
		gauge("directories", "Directories in the namespace.", func() float64 { return float64(m.st.View().Counts().Directories) }),
		gauge("mounts", "Mounted UFSes.", func() float64 { return float64(m.st.View().Counts().Mounts) }),
		gauge("blocks", "Distinct blocks with a cached copy.", func() float64 { return float64(m.blocks.blockCount()) }),
		gauge("executors_live", "Live executors.", executors(sluicepb.ExecutorState_EXECUTOR_STATE_LIVE)),
		gauge("executors_lost", "Executors declared lost.", executors(sluicepb.ExecutorState_EXECUTOR_STATE_LOST)),
		gauge("files_lost", "Files in state LOST.", countFiles(state.Lost)),
		gauge("files_to_be_persisted", "Files waiting for their checkpoint.", countFiles(state.ToBePersisted)),
		gauge("persist_queue_length", "Files in the persist queue (waiting or in flight).", func() float64 {
			n, _ := m.persist.stats(time.Now())
			return float64(n)
		}),
		gauge("persist_lag_seconds", "Age of the oldest file in the persist queue.", func() float64 {
			_, lag := m.persist.stats(time.Now())
			return lag.Seconds()
		}),
		gauge("raft_applied_index", "Last journal index applied by this master.", func() float64 { return float64(m.st.View().AppliedIndex()) }),
		gauge("is_leader", "1 while this master leads and serves.", func() float64 {
			if m.ready.Load() {
				return 1
			}
			return 0
		}),
	}
	logWrites := func(entries bool) func() float64 {
		return func() float64 {
			w, e := m.JournalLogWrites()
			if entries {
				return float64(e)
			}
			return float64(w)
		}
	}
	cols = append(cols,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "master", Name: "journal_log_writes_total",
			Help: "Raft log writes (each one synced bbolt transaction) since the journal opened."}, logWrites(false)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "master", Name: "journal_log_entries_written_total",
			Help: "Journal entries those writes stored; entries per write measures group commit."}, logWrites(true)))
	cols = append(cols, m.recomputeCollectors()...)
	for _, s := range []string{"Leader", "Follower", "Candidate", "Shutdown"} {
		cols = append(cols, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "master",
			Name: "raft_state", Help: "1 for this master's current Raft state.", ConstLabels: prometheus.Labels{"state": s}}, raftState(s)))
	}
	for _, c := range cols {
		err := reg.Register(c)
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			// A master created earlier on this registry (a restart in the same
			// process): its collectors describe a master that is gone.
			reg.Unregister(are.ExistingCollector)
			err = reg.Register(c)
		}
		if err != nil {
			return nil, fmt.Errorf("master: register metrics: %w", err)
		}
	}
	return mt, nil
}

// rpc counts one call.
func (mt *metrics) rpc(method string, code codes.Code, d time.Duration) {
	m, ok := mt.byMethod.Load(method)
	if !ok {
		m, _ = mt.byMethod.LoadOrStore(method, &methodMetrics{
			ok: mt.rpcs.WithLabelValues(method, codes.OK.String()), seconds: mt.rpcSeconds.WithLabelValues(method)})
	}
	mm := m.(*methodMetrics)
	if code == codes.OK {
		mm.ok.Inc()
	} else {
		mt.rpcs.WithLabelValues(method, code.String()).Inc()
	}
	mm.seconds.Observe(d.Seconds())
}

// methodMetrics are one method's children of the RPC metrics, looked up once (a label
// lookup hashes the values on every call).
type methodMetrics struct {
	ok      prometheus.Counter
	seconds prometheus.Observer
}
