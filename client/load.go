package client

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// LoadOptions tune Load.
type LoadOptions struct {
	// Recursive loads every file of a directory's subtree (a directory without it loads
	// its direct children).
	Recursive bool
	// Concurrency bounds the blocks loaded at once (default 4).
	Concurrency int
	// Pinned pins the loaded blocks in the executors.
	Pinned bool
	// Tier is the tier alias to cache into; empty means the top tier.
	Tier string
}

// LoadResult reports what Load did.
type LoadResult struct {
	// Files is the number of files examined.
	Files int64
	// BlocksLoaded is the number of blocks an executor read from the UFS.
	BlocksLoaded int64
	// BlocksCached is the number of blocks that were cached already.
	BlocksCached int64
	// BytesLoaded is the number of bytes read from the UFS.
	BytesLoaded int64
}

// Load caches the blocks of path (a file, or the files of a directory) in executors, as
// `sluice fs load` does: for every block without a cached copy it asks an executor (this
// host's first, else one of the live executors in turn) to CacheBlock it from the UFS.
// Blocks of files that are not persisted and have no copy cannot be loaded and fail with
// ErrNotPersisted. Already cached blocks are counted, not reloaded.
func (c *Client) Load(ctx context.Context, path string, opts LoadOptions) (LoadResult, error) {
	var res LoadResult
	fi, err := c.Stat(ctx, path)
	if err != nil {
		return res, fmt.Errorf("load %s: %w", path, err)
	}
	files := []FileInfo{fi}
	if fi.IsDir {
		all, err := c.List(ctx, path, ListOptions{Recursive: opts.Recursive})
		if err != nil {
			return res, fmt.Errorf("load %s: %w", path, err)
		}
		files = files[:0]
		for _, f := range all {
			if !f.IsDir {
				files = append(files, f)
			}
		}
	}
	execs, err := c.liveExecutors(ctx, true)
	if err != nil {
		return res, fmt.Errorf("load %s: %w", path, err)
	}
	if len(execs) == 0 {
		return res, fmt.Errorf("load %s: %w", path, ErrNoExecutor)
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = 4
	}
	var loaded, cached, bytes atomic.Int64
	var next atomic.Uint64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	var mu sync.Mutex
	var firstErr error
	for _, f := range files {
		if !f.Complete {
			continue
		}
		res.Files++
		locs, err := c.blockLocations(gctx, f.Path, false)
		if err != nil {
			mu.Lock()
			firstErr = fmt.Errorf("load %s: %w", f.Path, err)
			mu.Unlock()
			break
		}
		for _, b := range locs.GetBlocks() {
			if len(b.GetLocations()) > 0 {
				cached.Add(1)
				continue
			}
			if b.GetUfs() == nil {
				mu.Lock()
				firstErr = fmt.Errorf("load %s: block %d has no copy and the file is not persisted: %w", f.Path, b.GetBlock().GetBlockId(), ErrNotPersisted)
				mu.Unlock()
				break
			}
			g.Go(func() error {
				resp, err := c.cacheBlock(gctx, execs, int(next.Add(1)-1), b, opts)
				if err != nil {
					return fmt.Errorf("load %s: %w", f.Path, err)
				}
				if resp.GetAlreadyCached() {
					cached.Add(1)
					return nil
				}
				loaded.Add(1)
				bytes.Add(resp.GetLength())
				c.stats.blocksLoaded.Add(1)
				return nil
			})
		}
		if firstErr != nil {
			break
		}
	}
	err = g.Wait()
	res.BlocksLoaded, res.BlocksCached, res.BytesLoaded = loaded.Load(), cached.Load(), bytes.Load()
	if firstErr != nil {
		return res, firstErr
	}
	return res, err
}

// cacheBlock asks the executors, starting with the local one (or the turn-th one when
// there is no local one), to cache block b until one succeeds.
func (c *Client) cacheBlock(ctx context.Context, execs []*sluicepb.ExecutorInfo, turn int, b *sluicepb.FileBlockInfo, opts LoadOptions) (*sluicepb.CacheBlockResponse, error) {
	start := 0
	if !c.isLocal(execs[0].GetHost(), execs[0].GetRpcAddress()) {
		start = turn % len(execs)
	}
	var last error
	for i := range execs {
		e := execs[(start+i)%len(execs)]
		bs, err := c.blockService(e.GetRpcAddress())
		if err != nil {
			return nil, err
		}
		resp, err := bs.CacheBlock(ctx, &sluicepb.CacheBlockRequest{
			BlockId: b.GetBlock().GetBlockId(), Source: b.GetUfs(), Tier: opts.Tier, Pinned: opts.Pinned,
		})
		if err == nil {
			return resp, nil
		}
		last = decodeError(err)
		if isContextErr(last) {
			return nil, last
		}
	}
	return nil, fmt.Errorf("cache block %d: %w", b.GetBlock().GetBlockId(), last)
}
