// Package lineage holds the lineage graph (job → inputs, outputs) and the checkpoint
// planner that orders outputs for persistence by the Edge algorithm of the Tachyon paper.
//
// It is pure logic: no I/O, no goroutines, no clock (callers pass times in), and it
// imports only the standard library. The master owns a Graph under its state lock,
// mutates it only from journal entries (Add, Remove, SetState, SetRunTime), and maps Job
// and State to and from its protobuf messages, so replaying the journal rebuilds the
// same graph; Snapshot/Restore (or Encode/Decode) carry it through Raft snapshots.
//
// # The graph
//
// A Job records a command with the paths it read and the files it wrote. Job B depends on
// job A when an input of B names an output of A or a directory containing one, so a job
// that reads a directory depends on every recorded output inside it. Add refuses an
// output that another recorded job already produces, an output that is also an input
// (or lies inside an input directory), and a job that would close a cycle. Remove
// refuses to orphan dependents unless asked to cascade. Every query answers in a
// deterministic order (job IDs ascending, or topological with ties by ID).
//
// ShowPath and ShowJob build a View — the producer, the tree of ancestors and the tree of
// descendants — that renders as text (View.Text) or Graphviz (View.Dot). The CLI, which
// only receives jobs over the wire, rebuilds a small Graph from them with Add (in any
// order: an edge is found when the later of its two jobs goes in) and renders it
// locally.
//
// The graph keeps its adjacency up to date on every change and builds the topological
// order on demand, so replaying 10,000 Adds takes about 0.1 s and one Edge ranking or
// exposure over 10,000 jobs a few tens of milliseconds (see bench_test.go).
//
// # Checkpointing (Edge)
//
// RankCheckpoints orders the files that may be persisted now; PlanCheckpoints cuts that
// order to what fits beside the persists already in flight. The classes, in order:
//
//  1. unprotected: complete files no job produced (ASYNC_THROUGH writes) — nothing could
//     rebuild them, so they go before any lineage output;
//  2. leaves: outputs no recorded job reads yet, the edge of the graph, as in the paper;
//  3. deep: intermediate outputs that cut a chain of un-checkpointed jobs longer than
//     EdgeConfig.MaxUncheckpointedDepth, so that recovery reruns a bounded chain;
//  4. hot: intermediate outputs read at least EdgeConfig.HotAccesses times;
//  5. cold: the other intermediate outputs, so that lineage can eventually be collected.
//
// Within a class the producing job's priority goes first, then accesses, then age (older
// first, so nothing starves), then path. Files already persisted or in flight are never
// returned, and the bound stops at the first file that does not fit instead of skipping
// it, so a large file is never overtaken forever.
//
// Protected and ProtectedOutputs tell the evictor which files are un-checkpointed
// lineage outputs: their blocks go after those of files with a UFS copy. Collectable
// lists the jobs whose outputs and descendants' outputs are all checkpointed, whose
// records can go. Exposure lists the jobs a loss of every un-persisted file would rerun,
// with their recorded run times, for `sluice checkpoint status`.
package lineage
