package main

import (
	"errors"
	"fmt"
	"path"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/client"
)

// Namespace-changing commands: mkdir, touch, mv, rm.

func fsWriteSpecs() []fsSpec {
	return []fsSpec{
		{
			name:      "mkdir",
			usage:     "create directories",
			argsUsage: "[-p] PATH...",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "parents", Aliases: []string{"p"}, Usage: "create missing parents; an existing directory is no error"},
				&cli.StringFlag{Name: "mode", Aliases: []string{"m"}, Usage: "octal permission `MODE` of the new directories (default 755)"},
			},
			minArgs: 1, maxArgs: -1,
			run: runMkdir,
		},
		{
			name:        "touch",
			aliases:     []string{"touchz"},
			usage:       "create empty files",
			argsUsage:   "PATH...",
			description: "Creates each PATH as an empty file; an existing empty file is no error, an existing file\nwith content is (as with hdfs dfs -touchz).",
			flags: []cli.Flag{
				&cli.StringFlag{Name: "write-type", Aliases: []string{"t"},
					Usage: "write `TYPE` of the new files: MUST_CACHE, CACHE_THROUGH, THROUGH or ASYNC_THROUGH"},
			},
			minArgs: 1, maxArgs: -1,
			run: runTouch,
		},
		{
			name:        "mv",
			usage:       "move or rename files and directories within Sluice",
			argsUsage:   "SRC... DST",
			description: "Renames SRC to DST, or moves each SRC inside DST when DST is an existing directory (which\nseveral sources need).",
			minArgs:     2, maxArgs: -1,
			run: runMv,
		},
		{
			name:        "rm",
			usage:       "delete files and (with -R) directories",
			argsUsage:   "[-R] [-f] PATH...",
			description: "Deletes each PATH from Sluice and from the UFS (unless --sluice-only). A directory needs -R.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"R", "r"}, Usage: "delete directories with their trees"},
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "say nothing about, and do not fail on, missing paths"},
				&cli.BoolFlag{Name: "sluice-only", Usage: "keep the UFS copy; delete from Sluice only"},
			},
			minArgs: 1, maxArgs: -1,
			run: runRm,
		},
	}
}

func runMkdir(s *shell, args []string) error {
	opts := client.MkdirOptions{Recursive: s.c.Bool("parents"), AllowExists: s.c.Bool("parents")}
	if v := s.c.String("mode"); v != "" {
		m, err := parseMode(v)
		if err != nil {
			return usagef("%v", err)
		}
		opts.Mode = m
	}
	for _, a := range args {
		if _, err := s.cl.Mkdir(s.ctx, absPath(a), opts); err != nil {
			s.fail(a, err)
		}
	}
	return nil
}

func runTouch(s *shell, args []string) error {
	wt, err := writeType(s)
	if err != nil {
		return err
	}
	opts := client.CreateOptions{WriteType: wt}
	for _, a := range args {
		p := absPath(a)
		if fi, err := s.cl.Stat(s.ctx, p); err == nil {
			switch {
			case fi.IsDir:
				s.fail(a, client.ErrIsADirectory)
			case fi.Length > 0:
				s.failf(a, "Not a zero-length file")
			}
			continue
		} else if !errors.Is(err, client.ErrNotFound) {
			s.fail(a, err)
			continue
		}
		w, err := s.cl.Create(s.ctx, p, opts)
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			s.fail(a, err)
		}
	}
	return nil
}

func runMv(s *shell, args []string) error {
	srcs, dstArg := args[:len(args)-1], args[len(args)-1]
	dst, dstIsDir, ok := sluiceTarget(s, dstArg, len(srcs) > 1)
	if !ok {
		return nil
	}
	for _, src := range srcs {
		p := absPath(src)
		target := dst
		if dstIsDir {
			target = joinPath(dst, path.Base(p))
		}
		if p == "/" {
			s.failf(src, "Cannot move the root")
			continue
		}
		if _, err := s.cl.Rename(s.ctx, p, target); err != nil {
			s.fail(src, err)
		}
	}
	return nil
}

func runRm(s *shell, args []string) error {
	recursive, force := s.c.Bool("recursive"), s.c.Bool("force")
	opts := client.DeleteOptions{Recursive: recursive, SluiceOnly: s.c.Bool("sluice-only")}
	for _, a := range args {
		p := absPath(a)
		fi, err := s.cl.Stat(s.ctx, p)
		switch {
		case errors.Is(err, client.ErrNotFound) && force:
			continue
		case err != nil:
			s.fail(a, err)
			continue
		case fi.IsDir && !recursive:
			s.fail(a, fmt.Errorf("%w (use -R)", client.ErrIsADirectory))
			continue
		case p == "/":
			s.failf(a, "Cannot delete the root")
			continue
		}
		if _, err := s.cl.Delete(s.ctx, p, opts); err != nil && !(force && errors.Is(err, client.ErrNotFound)) {
			s.fail(a, err)
		}
	}
	return nil
}
