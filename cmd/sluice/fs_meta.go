package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/client"
)

// Attribute, cache and mount commands: chmod, chown, pin, unpin, setTtl, unsetTtl,
// persist, free, load, mount, unmount.

func recursiveFlag(usage string) cli.Flag {
	return &cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: usage}
}

// eachPath runs op on every argument, reporting failures on the argument as typed.
func eachPath(s *shell, args []string, op func(ctx context.Context, p string) error) {
	for _, a := range args {
		if err := op(s.ctx, absPath(a)); err != nil {
			s.fail(a, err)
		}
	}
}

// treeSpec is a subcommand that applies op to each PATH, to whole trees with -R.
func treeSpec(name, usage, recursiveUsage string, op func(*client.Client, context.Context, string, bool) (client.FileInfo, error)) fsSpec {
	return fsSpec{
		name:      name,
		usage:     usage,
		argsUsage: "[-R] PATH...",
		flags:     []cli.Flag{recursiveFlag(recursiveUsage)},
		minArgs:   1, maxArgs: -1,
		run: func(s *shell, args []string) error {
			eachPath(s, args, func(ctx context.Context, p string) error {
				_, err := op(s.cl, ctx, p, s.c.Bool("recursive"))
				return err
			})
			return nil
		},
	}
}

func fsMetaSpecs() []fsSpec {
	return []fsSpec{
		{
			name:      "chmod",
			usage:     "change the permission bits of paths",
			argsUsage: "[-R] MODE PATH...",
			flags:     []cli.Flag{recursiveFlag("change whole trees")},
			minArgs:   2, maxArgs: -1,
			run: runChmod,
		},
		{
			name:      "chown",
			usage:     "change the owner and group of paths",
			argsUsage: "[-R] OWNER[:GROUP]|:GROUP PATH...",
			flags:     []cli.Flag{recursiveFlag("change whole trees")},
			minArgs:   2, maxArgs: -1,
			run: runChown,
		},
		treeSpec("pin", "keep the blocks of files from eviction", "pin whole trees", (*client.Client).Pin),
		treeSpec("unpin", "let the blocks of files be evicted again", "unpin whole trees", (*client.Client).Unpin),
		{
			name:      "setTtl",
			usage:     "set the time to live of a path",
			argsUsage: "[--action delete|free] PATH DURATION",
			description: "DURATION counts from the path's creation: a Go duration (90s, 2h30m), days or weeks (7d,\n" +
				"2w), or milliseconds (60000). At expiry the path is deleted, or with --action free its\n" +
				"cached blocks are dropped.",
			flags: []cli.Flag{
				&cli.StringFlag{Name: "action", Value: "delete", Usage: "`ACTION` at expiry: delete or free"},
				recursiveFlag("set the TTL on whole trees"),
			},
			minArgs: 2, maxArgs: 2,
			run: runSetTTL,
		},
		treeSpec("unsetTtl", "remove the time to live of paths", "remove the TTL in whole trees", (*client.Client).UnsetTTL),
		{
			name:        "persist",
			usage:       "write files to the UFS and wait until they are durable",
			argsUsage:   "PATH...",
			description: "Persists each file PATH, or the files of a directory PATH (its whole tree), and waits until\nthey are PERSISTED unless --async.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "async", Usage: "return once the persists are scheduled"},
				&cli.DurationFlag{Name: "timeout", Usage: "give up waiting after `DURATION` (the persists go on; 0: wait as long as it takes)"},
			},
			minArgs: 1, maxArgs: -1,
			run: runPersist,
		},
		{
			name:        "free",
			usage:       "drop the cached blocks of persisted files (the metadata stays)",
			argsUsage:   "[-f] PATH...",
			description: "Frees each file PATH, or the files of a directory PATH (its whole tree). Files that are not\npersisted cannot be freed; pinned files are skipped unless -f.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "free pinned files too (and unpin them)"},
			},
			minArgs: 1, maxArgs: -1,
			run: runFree,
		},
		{
			name:        "load",
			usage:       "cache files from the UFS in executors",
			argsUsage:   "PATH...",
			description: "Caches the blocks of each file PATH, or of the files of a directory PATH (its whole tree),\nthat have no cached copy.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "pin", Usage: "pin the loaded blocks"},
				&cli.StringFlag{Name: "tier", Usage: "tier `ALIAS` to cache into (default the top tier)"},
				&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "blocks loaded at once"},
			},
			minArgs: 1, maxArgs: -1,
			run: runLoad,
		},
		{
			name:      "mount",
			usage:     "mount a UFS on a new directory, or list the mounts",
			argsUsage: "[--readonly] [--shared] [--option KEY=VALUE]... [PATH URI]",
			description: "Mounts the UFS at URI (file:///data, s3://bucket/prefix …) on the new directory PATH,\n" +
				"for example: sluice fs mount --option s3.endpoint=http://127.0.0.1:9000 /s3data s3://bucket/prefix\n" +
				"Without arguments, lists the mount table.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "readonly", Usage: "refuse every change under the mount"},
				&cli.BoolFlag{Name: "shared", Usage: "the UFS is also written by other systems"},
				&cli.StringSliceFlag{Name: "option", Aliases: []string{"o"}, Usage: "UFS option `KEY=VALUE` (repeat for more)"},
			},
			minArgs: 0, maxArgs: 2,
			run: runMount,
		},
		{
			name:      "unmount",
			aliases:   []string{"umount"},
			usage:     "remove mounts (the UFS data stays)",
			argsUsage: "PATH...",
			minArgs:   1, maxArgs: -1,
			run: func(s *shell, args []string) error {
				eachPath(s, args, s.cl.Unmount)
				return nil
			},
		},
	}
}

func runChmod(s *shell, args []string) error {
	mode, err := parseMode(args[0])
	if err != nil {
		return usagef("%v", err)
	}
	eachPath(s, args[1:], func(ctx context.Context, p string) error {
		_, err := s.cl.Chmod(ctx, p, mode, s.c.Bool("recursive"))
		return err
	})
	return nil
}

func runChown(s *shell, args []string) error {
	owner, group, err := parseOwner(args[0])
	if err != nil {
		return usagef("%v", err)
	}
	eachPath(s, args[1:], func(ctx context.Context, p string) error {
		_, err := s.cl.Chown(ctx, p, owner, group, s.c.Bool("recursive"))
		return err
	})
	return nil
}

func runSetTTL(s *shell, args []string) error {
	ttl, err := parseTTL(args[1])
	if err != nil {
		return usagef("%v", err)
	}
	action, err := parseTTLAction(s.c.String("action"))
	if err != nil {
		return usagef("%v", err)
	}
	if _, err := s.cl.SetTTL(s.ctx, absPath(args[0]), ttl, action, s.c.Bool("recursive")); err != nil {
		s.fail(args[0], err)
	}
	return nil
}

func runPersist(s *shell, args []string) error {
	opts := client.PersistOptions{Recursive: true, Wait: !s.c.Bool("async")}
	ctx := s.ctx
	if d := s.c.Duration("timeout"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	} else if d < 0 {
		return usagef("--timeout %v: must not be negative", d)
	}
	for _, a := range args {
		resp, err := s.cl.Persist(ctx, absPath(a), opts)
		if err != nil {
			s.fail(a, err)
			continue
		}
		verb := "persisted"
		if !opts.Wait {
			verb = "scheduled"
		}
		for _, p := range resp.GetScheduledPaths() {
			s.printf("%s %s\n", verb, p)
		}
		if n := resp.GetAlreadyPersisted(); n > 0 {
			s.printf("%s: %d file(s) already persisted\n", absPath(a), n)
		}
	}
	return nil
}

func runFree(s *shell, args []string) error {
	opts := client.FreeOptions{Recursive: true, Forced: s.c.Bool("force")}
	for _, a := range args {
		resp, err := s.cl.Free(s.ctx, absPath(a), opts)
		if err != nil {
			s.fail(a, err)
			continue
		}
		s.printf("%s: freed %d file(s), %d block(s)\n", absPath(a), resp.GetFreedFiles(), resp.GetFreedBlocks())
	}
	return nil
}

func runLoad(s *shell, args []string) error {
	opts := client.LoadOptions{
		Recursive: true, Pinned: s.c.Bool("pin"), Tier: s.c.String("tier"), Concurrency: s.c.Int("concurrency"),
	}
	if opts.Concurrency <= 0 {
		return usagef("--concurrency %d: want a positive number", opts.Concurrency)
	}
	for _, a := range args {
		res, err := s.cl.Load(s.ctx, absPath(a), opts)
		if err != nil {
			s.fail(a, err)
			continue
		}
		s.printf("%s: %d file(s), %d block(s) loaded (%d bytes), %d already cached\n",
			absPath(a), res.Files, res.BlocksLoaded, res.BytesLoaded, res.BlocksCached)
	}
	return nil
}

func runMount(s *shell, args []string) error {
	switch len(args) {
	case 0:
		return printMounts(s)
	case 1:
		return usagef("give both PATH and URI, or neither")
	}
	options, err := parseOptions(s.c.StringSlice("option"))
	if err != nil {
		return usagef("%v", err)
	}
	opts := client.MountOptions{ReadOnly: s.c.Bool("readonly"), Shared: s.c.Bool("shared"), Options: options}
	m, err := s.cl.Mount(s.ctx, absPath(args[0]), args[1], opts)
	if err != nil {
		s.fail(args[0], err)
		return nil
	}
	s.printf("mounted %s at %s\n", m.GetUfsUri(), m.GetPath())
	return nil
}

// printMounts lists the mount table: URI, path, type and flags, one mount per line.
func printMounts(s *shell) error {
	mounts, err := s.cl.MountTable(s.ctx, false)
	if err != nil {
		s.fail("", err)
		return nil
	}
	sort.Slice(mounts, func(i, j int) bool { return mounts[i].GetPath() < mounts[j].GetPath() })
	rows := make([][]string, 0, len(mounts))
	for _, m := range mounts {
		var flags []string
		if m.GetReadOnly() {
			flags = append(flags, "readonly")
		}
		if m.GetShared() {
			flags = append(flags, "shared")
		}
		rows = append(rows, []string{m.GetUfsUri(), "on", m.GetPath(), fmt.Sprintf("(%s, %s)", m.GetUfsType(), strings.Join(append([]string{fmt.Sprintf("id=%d", m.GetMountId())}, flags...), ", "))})
	}
	if err := writeTable(s.out, rows); err != nil {
		return &outputError{err}
	}
	return nil
}
