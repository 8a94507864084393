package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/client"
)

// Copying commands: put (copyFromLocal), get (copyToLocal) and cp.

// transfer is one step of a copy: a directory to create or a file to copy.
type transfer struct {
	// src and dst are the source and destination paths (local or Sluice, by command).
	src, dst string
	dir      bool
	size     int64
}

func totalSize(plan []transfer) int64 {
	var n int64
	for _, t := range plan {
		n += t.size
	}
	return n
}

func writeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "write-type", Aliases: []string{"t"},
			Usage: "where the bytes go: `TYPE` MUST_CACHE, CACHE_THROUGH, THROUGH or ASYNC_THROUGH (default: the client's, ASYNC_THROUGH)"},
		&cli.StringFlag{Name: "block-size", Aliases: []string{"b"}, Usage: "block `SIZE` of new files, e.g. 64MiB (default: the master's)"},
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "overwrite existing files"},
	}
}

// writeType reads the --write-type flag; unset is the client's default.
func writeType(s *shell) (client.WriteType, error) {
	v := s.c.String("write-type")
	if v == "" {
		return client.WriteDefault, nil
	}
	wt, err := client.ParseWriteType(v)
	if err != nil {
		return wt, usagef("--write-type %q: want MUST_CACHE, CACHE_THROUGH, THROUGH or ASYNC_THROUGH", v)
	}
	return wt, nil
}

// createOptions reads the write flags.
func createOptions(s *shell) (client.CreateOptions, error) {
	opts := client.CreateOptions{Recursive: true, Overwrite: s.c.Bool("force")}
	wt, err := writeType(s)
	if err != nil {
		return opts, err
	}
	opts.WriteType = wt
	if v := s.c.String("block-size"); v != "" {
		n, err := parseSize(v)
		if err != nil || n <= 0 {
			return opts, usagef("--block-size %q: want a positive size such as 64MiB", v)
		}
		opts.BlockSize = n
	}
	return opts, nil
}

func fsCopySpecs() []fsSpec {
	return []fsSpec{
		{
			name:      "put",
			aliases:   []string{"copyFromLocal"},
			usage:     "copy local files and directories into Sluice",
			argsUsage: "LOCALSRC... DST",
			description: "Copies each LOCALSRC (a file, a directory with its whole tree, or - for standard input) to\n" +
				"DST. When DST is an existing directory, each source goes inside it under its own name;\n" +
				"several sources need such a directory. Missing parents of DST are created. A progress\n" +
				"bar is drawn on standard error for large copies when it is a terminal.",
			flags:   writeFlags(),
			minArgs: 2, maxArgs: -1,
			run: runPut,
		},
		{
			name:      "get",
			aliases:   []string{"copyToLocal"},
			usage:     "copy files and directories from Sluice to the local file system",
			argsUsage: "SRC... LOCALDST",
			description: "Copies each SRC (a file, or a directory with its whole tree) to LOCALDST; when LOCALDST is\n" +
				"an existing directory each source goes inside it under its own name. A LOCALDST of -\n" +
				"writes files to standard output. Files appear complete or not at all.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "overwrite existing local files"},
				readTypeFlag(),
			},
			minArgs: 2, maxArgs: -1,
			run: runGet,
		},
		{
			name:        "cp",
			usage:       "copy files (and, with -R, directories) within Sluice",
			argsUsage:   "[-R] SRC... DST",
			description: "Copies each SRC to DST, or inside DST under its own name when DST is an existing directory.",
			flags: append(writeFlags(),
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "copy directories with their trees"},
				readTypeFlag()),
			minArgs: 2, maxArgs: -1,
			run: runCp,
		},
	}
}

// sluiceTarget resolves the destination of a copy into Sluice: dst itself, or dst/name
// when dst is an existing directory. many says several sources are copied, which needs
// such a directory. It reports failures itself and returns ok=false after them.
func sluiceTarget(s *shell, dstArg string, many bool) (dst string, isDir, ok bool) {
	dst = absPath(dstArg)
	fi, err := s.cl.Stat(s.ctx, dst)
	switch {
	case err == nil:
		isDir = fi.IsDir
	case !errors.Is(err, client.ErrNotFound):
		s.fail(dstArg, err)
		return "", false, false
	}
	if many && !isDir {
		if err == nil {
			s.fail(dstArg, client.ErrNotADirectory)
		} else {
			s.fail(dstArg, err)
		}
		return "", false, false
	}
	return dst, isDir, true
}

func runPut(s *shell, args []string) error {
	opts, err := createOptions(s)
	if err != nil {
		return err
	}
	srcs, dstArg := args[:len(args)-1], args[len(args)-1]
	dst, dstIsDir, ok := sluiceTarget(s, dstArg, len(srcs) > 1)
	if !ok {
		return nil
	}
	var plan []transfer
	for _, src := range srcs {
		target := dst
		if src == "-" {
			if dstIsDir {
				s.failf(dstArg, "Is a directory (standard input needs a file name)")
				continue
			}
			plan = append(plan, transfer{src: "-", dst: target})
			continue
		}
		if dstIsDir {
			target = joinPath(dst, filepath.Base(filepath.Clean(src)))
		}
		p, err := localPlan(src, target)
		if err != nil {
			s.fail(src, err)
			continue
		}
		plan = append(plan, p...)
	}
	return runPlan(s, plan, mkdirSluice(s), func(t transfer, bar *progressBar) error {
		return putFile(s, t, opts, bar)
	})
}

// runPlan carries out plan: mkdir creates directories, copyFile copies files, with a
// progress bar for large plans on a terminal. Failures are reported on the destination
// and the plan goes on, unless the output fails (an *outputError), which is returned.
func runPlan(s *shell, plan []transfer, mkdir func(dst string) error, copyFile func(t transfer, bar *progressBar) error) error {
	bar := maybeProgress(s, totalSize(plan))
	defer bar.Finish()
	for _, t := range plan {
		var err error
		if t.dir {
			err = mkdir(t.dst)
		} else {
			err = copyFile(t, bar)
		}
		var oe *outputError
		if errors.As(err, &oe) {
			return err
		}
		if err != nil {
			s.fail(t.dst, err)
		}
	}
	return nil
}

// mkdirSluice creates a Sluice directory and its parents; an existing one is fine.
func mkdirSluice(s *shell) func(string) error {
	return func(dst string) error {
		_, err := s.cl.Mkdir(s.ctx, dst, client.MkdirOptions{Recursive: true, AllowExists: true})
		return err
	}
}

// putFile copies the local file t.src (standard input for "-") to the Sluice file t.dst.
func putFile(s *shell, t transfer, opts client.CreateOptions, bar *progressBar) error {
	r := s.c.App.Reader
	if t.src != "-" {
		f, err := os.Open(t.src)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
		// Known length: each block reserves only what it will hold on its executor.
		opts.SizeHint = t.size
	}
	return writeSluice(s, t.dst, bar.Reader(r), opts)
}

// localPlan lists the steps to copy the local src (a file or a tree) to the Sluice path dst.
func localPlan(src, dst string) ([]transfer, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []transfer{{src: src, dst: dst, size: st.Size()}}, nil
	}
	var plan []transfer
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		t := transfer{src: p, dst: path.Join(dst, filepath.ToSlash(rel)), dir: d.IsDir()}
		if !d.IsDir() {
			if !d.Type().IsRegular() {
				// Sockets, devices and symlinks are not copied, as with hdfs dfs -put.
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			t.size = info.Size()
		}
		plan = append(plan, t)
		return nil
	})
	return plan, err
}

// writeSluice writes r into the new Sluice file dst; a failure aborts the file.
func writeSluice(s *shell, dst string, r io.Reader, opts client.CreateOptions) error {
	w, err := s.cl.Create(s.ctx, dst, opts)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// sluicePlan lists the steps to copy the Sluice path src (a file, or a tree when
// recursive) to dst.
func sluicePlan(s *shell, src string, dst string, recursive bool) ([]transfer, error) {
	fi, err := s.cl.Stat(s.ctx, src)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir {
		return []transfer{{src: src, dst: dst, size: fi.Length}}, nil
	}
	if !recursive {
		return nil, fmt.Errorf("%w (use -R)", client.ErrIsADirectory)
	}
	plan := []transfer{{src: src, dst: dst, dir: true}}
	list, err := s.cl.List(s.ctx, src, client.ListOptions{Recursive: true})
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(fi.Path, "/") + "/"
	for _, e := range list {
		rel := strings.TrimPrefix(e.Path, prefix)
		plan = append(plan, transfer{src: e.Path, dst: path.Join(dst, rel), dir: e.IsDir, size: e.Length})
	}
	return plan, nil
}

func runGet(s *shell, args []string) error {
	ropts, err := openOptions(s)
	if err != nil {
		return err
	}
	srcs, dst := args[:len(args)-1], args[len(args)-1]
	dstIsDir := false
	if dst != "-" {
		st, err := os.Stat(dst)
		dstIsDir = err == nil && st.IsDir()
		if len(srcs) > 1 && !dstIsDir {
			if err == nil {
				err = syscall.ENOTDIR
			}
			s.fail(dst, err)
			return nil
		}
	}
	var plan []transfer
	for _, src := range srcs {
		p := absPath(src)
		target := dst
		if dstIsDir {
			target = filepath.Join(dst, path.Base(p))
		}
		steps, err := sluicePlan(s, p, target, dst != "-")
		if err != nil {
			s.fail(src, err)
			continue
		}
		plan = append(plan, steps...)
	}
	mkdir := func(dst string) error { return os.MkdirAll(dst, 0o755) }
	return runPlan(s, plan, mkdir, func(t transfer, bar *progressBar) error {
		if t.dst != "-" {
			return readToLocal(s, t, ropts, bar)
		}
		r, err := s.cl.Open(s.ctx, t.src, ropts)
		if err != nil {
			return err
		}
		defer r.Close()
		return copyOut(s, t.src, bar.Reader(r), -1)
	})
}

// readToLocal copies the Sluice file t.src into the local file t.dst through a temporary
// file in the same directory, renamed into place once complete.
func readToLocal(s *shell, t transfer, opts client.OpenOptions, bar *progressBar) error {
	if _, err := os.Lstat(t.dst); err == nil && !s.c.Bool("force") {
		return fs.ErrExist
	}
	r, err := s.cl.Open(s.ctx, t.src, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", t.src, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(t.dst), "."+filepath.Base(t.dst)+".sluice-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(bar.Writer(tmp), r)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), t.dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

func runCp(s *shell, args []string) error {
	opts, err := createOptions(s)
	if err != nil {
		return err
	}
	ropts, err := openOptions(s)
	if err != nil {
		return err
	}
	srcs, dstArg := args[:len(args)-1], args[len(args)-1]
	dst, dstIsDir, ok := sluiceTarget(s, dstArg, len(srcs) > 1)
	if !ok {
		return nil
	}
	var plan []transfer
	for _, src := range srcs {
		p := absPath(src)
		target := dst
		if dstIsDir {
			target = joinPath(dst, path.Base(p))
		}
		if target == p || strings.HasPrefix(target, strings.TrimSuffix(p, "/")+"/") {
			s.failf(src, "Cannot copy to itself or into itself (%s)", target)
			continue
		}
		steps, err := sluicePlan(s, p, target, s.c.Bool("recursive"))
		if err != nil {
			s.fail(src, err)
			continue
		}
		plan = append(plan, steps...)
	}
	return runPlan(s, plan, mkdirSluice(s), func(t transfer, bar *progressBar) error {
		r, err := s.cl.Open(s.ctx, t.src, ropts)
		if err != nil {
			return err
		}
		defer r.Close()
		o := opts
		o.SizeHint = t.size
		return writeSluice(s, t.dst, bar.Reader(r), o)
	})
}
