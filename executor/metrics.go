package executor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Path kinds of the byte counters.
const (
	pathShortCircuit = "short_circuit"
	pathRemote       = "remote"
	pathUFS          = "ufs"
)

// metrics are the executor's Prometheus metrics, all prefixed sluice_executor_.
type metrics struct {
	readBytes       *prometheus.CounterVec
	writeBytes      *prometheus.CounterVec
	cacheHits       prometheus.Counter
	cacheMisses     prometheus.Counter
	evictions       *prometheus.CounterVec
	persistBytes    prometheus.Counter
	persistDuration prometheus.Histogram
	persistFiles    *prometheus.CounterVec
	hostMemory      prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry, e *Executor) (*metrics, error) {
	m := &metrics{
		readBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_executor_read_bytes_total",
			Help: "Bytes served to readers, by path kind (short_circuit: block length at OpenLocalBlock; remote: ReadBlock from a tier; ufs: ReadBlock from the UFS) and tier.",
		}, []string{"path", "tier"}),
		writeBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_executor_written_bytes_total",
			Help: "Bytes of blocks committed, by path kind (short_circuit, remote, ufs for blocks cached from the UFS) and tier, plus bytes written to the UFS (tier \"\").",
		}, []string{"path", "tier"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_executor_cache_hits_total",
			Help: "Block reads (ReadBlock, OpenLocalBlock) served from a tier.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_executor_cache_misses_total",
			Help: "Block reads that found no block here (served from the UFS or failed with NOT_FOUND).",
		}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_executor_store_events_total",
			Help: "Blocks the store evicted or dropped as corrupt on its own, by kind and tier.",
		}, []string{"kind", "tier"}),
		persistBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_executor_persist_bytes_total",
			Help: "Bytes written to the UFS by persist tasks that succeeded.",
		}),
		persistDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_executor_persist_duration_seconds",
			Help:    "Duration of persist tasks.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		persistFiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_executor_persist_files_total",
			Help: "Persist tasks finished, by result (success, failure).",
		}, []string{"result"}),
		hostMemory: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_executor_host_memory_bytes",
			Help: "Total memory of the host, as gopsutil reports it.",
		}),
	}
	cs := []prometheus.Collector{m.readBytes, m.writeBytes, m.cacheHits, m.cacheMisses, m.evictions,
		m.persistBytes, m.persistDuration, m.persistFiles, m.hostMemory, &storeCollector{e: e}}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("executor: register metrics: %w", err)
		}
	}
	return m, nil
}

// storeCollector reports the block store's capacity, use and block counts per tier at
// scrape time.
type storeCollector struct{ e *Executor }

var (
	descCapacity = prometheus.NewDesc("sluice_executor_tier_capacity_bytes", "Capacity of a tier.", []string{"tier"}, nil)
	descUsed     = prometheus.NewDesc("sluice_executor_tier_used_bytes", "Bytes used in a tier by blocks and reservations.", []string{"tier"}, nil)
	descBlocks   = prometheus.NewDesc("sluice_executor_tier_blocks", "Blocks held in a tier.", []string{"tier"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCapacity
	ch <- descUsed
	ch <- descBlocks
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.store.Load()
	if s == nil {
		return
	}
	for _, t := range tierUsage(s.Usage()) {
		ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(t.CapacityBytes), t.Alias)
		ch <- prometheus.MustNewConstMetric(descUsed, prometheus.GaugeValue, float64(t.UsedBytes), t.Alias)
		ch <- prometheus.MustNewConstMetric(descBlocks, prometheus.GaugeValue, float64(t.BlockCount), t.Alias)
	}
}
