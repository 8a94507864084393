// Package blocks is the executor's tiered block store: it keeps blocks in local
// directories grouped into ordered tiers (MEM, SSD, HDD) with quotas, checksums every
// block with CRC32C, and evicts or demotes blocks to make room. It does no network I/O;
// the executor serves its blocks to clients and reports changes to the master.
//
// # Layout on disk
//
// Each configured directory holds, for every committed block, its data file
// "<id as 16 hex digits>.blk" and a checksum file "<id>.crc" beside it. The folder
// ".tmp" holds blocks being written (a short-circuit client writes TempBlock.Path there
// itself), copies in flight between tiers and recycled MEM files; everything in it is
// removed when a Store opens. ".lock" is held with flock(2) while a Store uses the
// directory, so two executors never share one. The MEM tier is meant to be a tmpfs
// directory (DefaultConfig uses /dev/shm) so that clients on the host can read block
// files directly. The package needs mmap and flock: it builds on Unix systems only.
//
// # Checksums
//
// A block has one CRC32C (Castagnoli) per 64 KiB chunk, stored in its checksum file,
// and a whole-block CRC32C (BlockMeta.Checksum, the checksum the master and clients
// know) folded from the chunk checksums with the CRC combination of zlib, so the data is
// checksummed once on write. The checksum file is protected by its own CRC32C and
// decoded strictly; a file that fails to decode, or disagrees with the data file's size,
// makes Open drop the block. Every BlockReader.ReadAt verifies the chunks it touches
// before returning any byte of them, and so do Move and demotion, which read the data.
// A mismatch is ErrCorrupt: the block is refused to new readers at once, dropped when
// its last reader closes and reported with EventCorrupt. Restart does not re-read the
// data (that would take minutes on an HDD tier); reads catch damage instead. Readers
// that use Path directly (short-circuit) bypass the chunk checks and can check the
// whole-block checksum themselves.
//
// # Writing
//
// CreateTemp reserves the size hint in a directory chosen by the allocator: with no tier
// given, the fastest tier that has room or can make room by eviction. Data comes through
// TempBlock.Write, or from a short-circuit writer at TempBlock.Path (with Reserve to ask
// for more room first), never both. Commit settles the checksums (reading the file in
// the short-circuit case), writes the checksum file, and renames the data into place,
// which is the commit point. Commit does not fsync: blocks survive a crash of the
// process, not of the machine, which DESIGN.md treats as the loss of the executor.
// When no room can be found, Write and Commit fail with ErrNoSpace and abort the block,
// so no partial block remains and the quota holds at every moment (reservations are
// taken before bytes are written).
//
// # Locks, Remove and Move
//
// A BlockReader holds the block's read lock: while it is open the block is not evicted,
// moved or removed and its file stays at Path. Remove and Move take the write lock:
// they wait for the readers to close, bounded by their ctx (the decision this package
// takes where a block is removed while read); meanwhile new readers queue behind them,
// so readers cannot starve them, and find the block gone or moved afterwards. A caller
// must not Remove or Move a block it holds open itself.
//
// # Eviction
//
// Eviction works per directory: the evictor (LRU, or LRFU with Alluxio's default
// parameters) orders the blocks, every unprotected block goes before any protected one
// (SetProtected: outputs of un-checkpointed lineage), and pinned blocks, blocks with
// readers and blocks being moved are never taken; a block pinned while it is being
// evicted is spared. An evicted block is moved to the first slower tier with free
// space (without evicting there), else removed. An allocation evicts only if the
// evictable blocks make enough room, and never more than it needs; the SpaceReserver,
// run by the caller (Run(ctx)), evicts in the background from every directory above its
// high watermark down to its low watermark. Config.OnEvent reports evictions,
// demotions and drops of corrupt blocks; a caller's own Remove and Move are not
// reported. Pins and protection live in memory only: the executor sets them again
// after a restart, from the master's state. After a restart, the evictor orders blocks
// by the age of their files, and blocks beyond a (lowered) quota are evicted by Open.
//
// # The MEM data path
//
// MEM blocks are read through a shared memory mapping of their file, and Write copies
// into a mapping: a pread or pwrite on tmpfs goes through the kernel's page-by-page
// copy, about half the speed of a copy in user space here. On amd64 the copy and the
// checksum are one pass (copyCRC3: three chunks at once as independent crc32
// instruction streams, with software prefetch), so a verified read runs at the speed of
// a plain memory copy. A fault on a mapping (its file truncated under the Store) is
// reported as ErrCorrupt rather than crashing the process (runtime/debug.SetPanicOnFault).
//
// Fresh tmpfs pages are expensive: the kernel allocates and zeroes each 4 KiB page,
// about 1 µs per page on the machines measured, so writing into new pages runs at
// roughly a tenth of memory-copy speed whatever the Store does. The Store therefore
// recycles MEM files: when a MEM block is removed or moved away, its file and mapping
// are kept in .tmp and the next block written through Write, or handed to a
// short-circuit writer by TempBlock.PrepareDirect (direct.go), takes them over. Recycled
// files count against the quota with the blocks, are given up first whenever space is
// reserved, and are deleted by Close; Config.DisableRecycle gives freed memory back to
// the host at once instead. Evicted blocks are not recycled, since their room is
// wanted immediately.
//
// Benchmarks (go test -bench . ./blocks/): BenchmarkMemRead and BenchmarkMemWrite move
// 1 GiB in 4 MiB operations, as 64 MiB blocks, and report copy_ratio, the Store's
// throughput over a plain copy of the same bytes, each block paired with the copy timed
// right after it (the median over the pairs). Measured on a shared 2-core AMD EPYC VM:
// read 0.9–1.4 and steady-state write 0.9–1.25 of the copy. BenchmarkMemWriteCold
// (256 MiB into fresh pages) stays at about 0.1, the bound of the kernel's page
// allocation described above.
package blocks
