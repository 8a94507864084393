// Package examples holds runnable Sluice pipelines and deployment files. Each program lives
// in its own folder; this file only documents the folder.
//
//   - gentext, wordcount, topn: lineage job programs written with the client SDK (package
//     main each); they read SLUICE_INPUTS and write SLUICE_OUTPUTS MUST_CACHE, bound to
//     their job, and are deterministic so that a recompute rebuilds identical bytes.
//   - internal/jobio: the flags, environment and I/O plumbing they share.
//   - pipeline.sh: the three programs as a lineage-tracked pipeline on `sluice local`,
//     then an executor killed before the outputs are checkpointed, and the final output
//     read back identical through recompute.
package examples
