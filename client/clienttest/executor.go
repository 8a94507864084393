package clienttest

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/grpc"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// ReadHook is called by an executor before it sends each chunk of a ReadBlock stream,
// with the stream's context, the block and the bytes of the stream sent so far. A
// non-nil error ends the stream with that error. Blocking until ctx is done stalls the
// stream, so a test can stop the executor mid-read deterministically.
type ReadHook func(ctx context.Context, blockID uint64, sent int64) error

// Executor is one fake executor: a BlockService over block files in a directory.
type Executor struct {
	c    *Cluster
	id   uint64
	host string
	addr string
	dir  string
	// prefix is ExecutorOptions.PathPrefix.
	prefix string
	cap    int64
	srv    *grpc.Server

	// mu guards the fields below.
	mu sync.Mutex
	// blocks are the committed blocks by ID.
	blocks map[uint64]*storedBlock
	// temps are the short-circuit writes in progress by block ID (their file paths).
	temps map[uint64]string
	// locks are the short-circuit read locks by lock ID (their block IDs).
	locks    map[uint64]uint64
	nextLock uint64
	used     int64
	stopped  bool
	lost     bool
	readHook ReadHook
	promoted map[uint64]int
}

// storedBlock is a committed block file.
type storedBlock struct {
	path   string
	length int64
	crc    uint32
}

// AddExecutor starts an executor and registers it with the master.
func (c *Cluster) AddExecutor(o ExecutorOptions) *Executor {
	c.t.Helper()
	if o.Host == "" {
		o.Host = hostname()
	}
	if o.Capacity <= 0 {
		o.Capacity = 1 << 30
	}
	if o.Dir == "" {
		o.Dir = c.t.TempDir()
	}
	lis := c.listen()
	e := &Executor{
		c: c, host: o.Host, addr: lis.Addr().String(), dir: o.Dir, prefix: o.PathPrefix, cap: o.Capacity,
		blocks: make(map[uint64]*storedBlock), temps: make(map[uint64]string),
		locks: make(map[uint64]uint64), promoted: make(map[uint64]int),
	}
	e.srv = c.newServer(nil)
	sluicepb.RegisterBlockServiceServer(e.srv, &blockServer{e: e})
	c.mu.Lock()
	c.nextExecID++
	e.id = c.nextExecID
	c.executors = append(c.executors, e)
	c.mu.Unlock()
	go e.srv.Serve(lis)
	return e
}

// Executors returns the executors in the order they were added.
func (c *Cluster) Executors() []*Executor {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Executor(nil), c.executors...)
}

// ID returns the executor's ID.
func (e *Executor) ID() uint64 { return e.id }

// Address returns the executor's gRPC address.
func (e *Executor) Address() string { return e.addr }

// Host returns the host name the executor reports.
func (e *Executor) Host() string { return e.host }

// Stop stops the executor's server at once (open streams break). The master keeps
// listing it and its blocks until LoseExecutor, as a real master does until the
// heartbeat timeout.
func (e *Executor) Stop() {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	e.srv.Stop()
}

// SetReadHook installs h for the executor's ReadBlock streams (nil removes it).
func (e *Executor) SetReadHook(h ReadHook) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.readHook = h
}

// HasBlock reports whether the executor holds block id.
func (e *Executor) HasBlock(id uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.blocks[id] != nil
}

// BlockCount returns the number of blocks the executor holds.
func (e *Executor) BlockCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.blocks)
}

// OpenLocks returns the number of short-circuit read locks held.
func (e *Executor) OpenLocks() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.locks)
}

// PendingLocalWrites returns the number of short-circuit writes neither committed nor
// aborted.
func (e *Executor) PendingLocalWrites() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.temps)
}

// Promotions returns how many reads asked to promote block id.
func (e *Executor) Promotions(id uint64) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.promoted[id]
}

// blockData returns a copy of a block's bytes.
func (e *Executor) blockData(id uint64) ([]byte, bool) {
	e.mu.Lock()
	b := e.blocks[id]
	e.mu.Unlock()
	if b == nil {
		return nil, false
	}
	data, err := os.ReadFile(b.path)
	if err != nil || int64(len(data)) != b.length {
		return nil, false
	}
	return data, true
}

// dropBlock deletes a block file.
func (e *Executor) dropBlock(id uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b := e.blocks[id]; b != nil {
		os.Remove(b.path)
		e.used -= b.length
		delete(e.blocks, id)
	}
}

// store writes data as block id and returns its checksum; the caller commits it.
func (e *Executor) store(id uint64, data []byte) (*storedBlock, error) {
	p := filepath.Join(e.dir, fmt.Sprintf("blk-%d", id))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NO_SPACE, "", "write block %d: %v", id, err)
	}
	return e.adopt(id, p, int64(len(data)), crc32.Checksum(data, castagnoli))
}

// adopt records a written block file as block id, within capacity.
func (e *Executor) adopt(id uint64, p string, length int64, crc uint32) (*storedBlock, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.blocks[id]; old != nil {
		e.used -= old.length
	}
	if e.used+length > e.cap {
		os.Remove(p)
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NO_SPACE, "", "executor %d is full", e.id)
	}
	b := &storedBlock{path: p, length: length, crc: crc}
	e.blocks[id] = b
	e.used += length
	return b, nil
}

// LoseExecutor stops executor e and makes the master declare it lost: its blocks are
// dropped from the block locations, and files left with a block without a copy that are
// not persisted become LOST.
func (c *Cluster) LoseExecutor(e *Executor) {
	e.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	e.mu.Lock()
	e.lost = true
	e.mu.Unlock()
	for id, locs := range c.blockLocs {
		delete(locs, e.id)
		if len(locs) > 0 {
			continue
		}
		delete(c.blockLocs, id)
		in := c.byID[sluicepb.BlockFileID(id)]
		if in != nil && in.info.State == sluicepb.FileState_FILE_STATE_COMPLETE &&
			in.info.PersistenceState != sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED {
			in.info.PersistenceState = sluicepb.PersistenceState_PERSISTENCE_STATE_LOST
		}
	}
}

// executorByID returns a registered executor; c.mu must be held.
func (c *Cluster) executorByID(id uint64) *Executor {
	for _, e := range c.executors {
		if e.id == id {
			return e
		}
	}
	return nil
}

// liveLocations returns the executors holding block id that are not declared lost;
// c.mu must be held.
func (c *Cluster) liveLocations(id uint64) map[uint64]bool {
	out := make(map[uint64]bool)
	for execID := range c.blockLocs[id] {
		if e := c.executorByID(execID); e != nil && !e.isLost() {
			out[execID] = true
		}
	}
	return out
}

func (e *Executor) isLost() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost
}

// executorInfos describes the executors; c.mu must be held.
func (c *Cluster) executorInfos(includeLost bool) []*sluicepb.ExecutorInfo {
	var out []*sluicepb.ExecutorInfo
	for _, e := range c.executors {
		e.mu.Lock()
		info := &sluicepb.ExecutorInfo{
			Id: e.id, RpcAddress: e.addr, Host: e.host, Pid: int32(os.Getpid()),
			CapacityBytes: e.cap, UsedBytes: e.used, BlockCount: int64(len(e.blocks)),
			State: sluicepb.ExecutorState_EXECUTOR_STATE_LIVE, MemDir: e.dir, LastHeartbeatMs: nowMs(),
			Tiers: []*sluicepb.TierUsage{{Alias: "MEM", CapacityBytes: e.cap, UsedBytes: e.used, BlockCount: int64(len(e.blocks))}},
		}
		if e.lost {
			info.State = sluicepb.ExecutorState_EXECUTOR_STATE_LOST
		}
		e.mu.Unlock()
		if info.State == sluicepb.ExecutorState_EXECUTOR_STATE_LOST && !includeLost {
			continue
		}
		out = append(out, info)
	}
	return out
}

// commitBlock is ExecutorMaster.CommitBlock: it records a copy of block id on executor
// execID. A block of an INCOMPLETE file is remembered for CompleteFile.
func (c *Cluster) commitBlock(execID, id uint64, length int64, crc uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.byID[sluicepb.BlockFileID(id)]
	if in == nil || in.info.IsDir {
		return fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "no file for block %d", id)
	}
	if in.info.State == sluicepb.FileState_FILE_STATE_INCOMPLETE {
		c.written[id] = &sluicepb.BlockInfo{BlockId: id, Length: length, Crc32C: &crc}
	} else if int(sluicepb.BlockIndex(id)) >= len(in.blocks) {
		return fail(sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE, in.info.Path, "block %d is not part of complete file %s", id, in.info.Path)
	}
	if c.blockLocs[id] == nil {
		c.blockLocs[id] = make(map[uint64]bool)
	}
	c.blockLocs[id][execID] = true
	return nil
}

// uncommitBlock drops the location of block id on executor execID.
func (c *Cluster) uncommitBlock(execID, id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.blockLocs[id], execID)
}

// dropBlock removes block id from every executor; c.mu must be held.
func (c *Cluster) dropBlock(id uint64) {
	for execID := range c.blockLocs[id] {
		if e := c.executorByID(execID); e != nil {
			e.dropBlock(id)
		}
	}
	delete(c.blockLocs, id)
}

// checkIncomplete fails unless block id belongs to an INCOMPLETE file.
func (c *Cluster) checkIncomplete(id uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.byID[sluicepb.BlockFileID(id)]
	if in == nil || in.info.IsDir {
		return fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "no file for block %d", id)
	}
	if in.info.State != sluicepb.FileState_FILE_STATE_INCOMPLETE {
		return fail(sluicepb.ErrorReason_ERROR_REASON_FILE_COMPLETE, in.info.Path, "%s is complete", in.info.Path)
	}
	return nil
}

// readUFS returns length bytes at off of the UFS file uri.
func (c *Cluster) readUFS(uri string, off, length int64) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, ok := c.ufs[uri]
	if !ok {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, "", "UFS file %s does not exist", uri)
	}
	if off < 0 || length < 0 || off+length > int64(len(data)) {
		return nil, fail(sluicepb.ErrorReason_ERROR_REASON_LENGTH_MISMATCH, "", "UFS file %s has %d bytes, want [%d, %d)", uri, len(data), off, off+length)
	}
	return append([]byte(nil), data[off:off+length]...), nil
}

// PutUFS stores a file in the in-memory UFS (a file that exists only in the UFS until the
// master loads its metadata).
func (c *Cluster) PutUFS(uri string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ufs[uri] = append([]byte(nil), data...)
}

// UFS returns a copy of a UFS file's bytes.
func (c *Cluster) UFS(uri string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, ok := c.ufs[uri]
	return append([]byte(nil), data...), ok
}

// recvAll reads the chunks of a client stream until EOF into a file at p.
func recvAll(f *os.File, next func() ([]byte, error)) (int64, uint32, error) {
	var n int64
	var crc uint32
	for {
		chunk, err := next()
		if errors.Is(err, io.EOF) {
			return n, crc, nil
		}
		if err != nil {
			return n, crc, err
		}
		if _, err := f.Write(chunk); err != nil {
			return n, crc, err
		}
		n += int64(len(chunk))
		crc = crc32.Update(crc, castagnoli, chunk)
	}
}

// Replicate copies every cached block of the file at path to executor to, as if a read or
// a load had cached a second copy there.
func (c *Cluster) Replicate(path string, to *Executor) error {
	c.mu.Lock()
	in := c.inodes[path]
	if in == nil {
		c.mu.Unlock()
		return fail(sluicepb.ErrorReason_ERROR_REASON_NOT_FOUND, path, "%s does not exist", path)
	}
	type copyJob struct {
		id   uint64
		from []*Executor
	}
	var jobs []copyJob
	for _, b := range in.blocks {
		j := copyJob{id: b.GetBlockId()}
		for execID := range c.liveLocations(b.GetBlockId()) {
			j.from = append(j.from, c.executorByID(execID))
		}
		jobs = append(jobs, j)
	}
	c.mu.Unlock()
	for _, j := range jobs {
		var data []byte
		for _, e := range j.from {
			if d, ok := e.blockData(j.id); ok {
				data = d
				break
			}
		}
		if data == nil {
			return fail(sluicepb.ErrorReason_ERROR_REASON_FILE_LOST, path, "block %d has no copy", j.id)
		}
		if err := to.cache(j.id, data); err != nil {
			return err
		}
	}
	return nil
}

// DropCopies removes the copies of the file's blocks held by executor e (as an eviction
// would), keeping the others.
func (c *Cluster) DropCopies(path string, e *Executor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.inodes[path]
	if in == nil {
		return
	}
	for _, b := range in.blocks {
		e.dropBlock(b.GetBlockId())
		delete(c.blockLocs[b.GetBlockId()], e.id)
	}
}
