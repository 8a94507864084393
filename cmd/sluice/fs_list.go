package main

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/client"
)

// Listing commands: ls, du, count, test.

func fsListSpecs() []fsSpec {
	return []fsSpec{
		{
			name:      "ls",
			usage:     "list directories and files",
			argsUsage: "[PATH...]",
			description: "Lists the children of each directory PATH (\"/\" when none is given) or the file PATH\n" +
				"itself, one line each: mode, owner, group, size, persistence state (NOT_PERSISTED,\n" +
				"TO_BE_PERSISTED, PERSISTED, LOST; INCOMPLETE while being written), share cached in\n" +
				"executors (DIR for directories), modification time and path.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"R"}, Usage: "list subdirectories recursively"},
				&cli.BoolFlag{Name: "human-readable", Aliases: []string{"h"}, Usage: "print sizes like 1.5MiB"},
				&cli.BoolFlag{Name: "directory", Aliases: []string{"d"}, Usage: "list directories themselves, not their children"},
			},
			minArgs: 0, maxArgs: -1,
			run: runLs,
		},
		{
			name:        "du",
			usage:       "show the space taken by files and directories",
			argsUsage:   "PATH...",
			description: "Prints, for each child of a directory PATH (or the file PATH), its size in bytes, the bytes\ncached in executors with their share, and its path; -s prints one total per PATH.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "summary", Aliases: []string{"s"}, Usage: "print one total per PATH"},
				&cli.BoolFlag{Name: "human-readable", Aliases: []string{"h"}, Usage: "print sizes like 1.5MiB"},
			},
			minArgs: 1, maxArgs: -1,
			run: runDu,
		},
		{
			name:        "count",
			usage:       "count the directories, files and bytes under paths",
			argsUsage:   "PATH...",
			description: "Prints DIR_COUNT FILE_COUNT CONTENT_SIZE PATH for each PATH, as hdfs dfs -count does (a\ndirectory counts itself).",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "human-readable", Aliases: []string{"h"}, Usage: "print sizes like 1.5MiB"},
			},
			minArgs: 1, maxArgs: -1,
			run: runCount,
		},
		{
			name:      "test",
			usage:     "test a path; exit 0 if true, 1 if false, printing nothing",
			argsUsage: "-e|-d|-f|-s|-z PATH",
			description: "-e: PATH exists; -d: it is a directory; -f: it is a file; -s: it is a file that is not\n" +
				"empty; -z: it is an empty file. Exactly one test is allowed.",
			flags: []cli.Flag{
				&cli.BoolFlag{Name: "e", Usage: "true if PATH exists"},
				&cli.BoolFlag{Name: "d", Usage: "true if PATH is a directory"},
				&cli.BoolFlag{Name: "f", Usage: "true if PATH is a file"},
				&cli.BoolFlag{Name: "s", Usage: "true if PATH is a file that is not empty"},
				&cli.BoolFlag{Name: "z", Usage: "true if PATH is an empty file"},
			},
			minArgs: 1, maxArgs: 1,
			run: runTest,
		},
	}
}

// modeString renders a mode like ls: "drwxr-xr-x".
func modeString(fi client.FileInfo) string {
	var b strings.Builder
	if fi.IsDir {
		b.WriteByte('d')
	} else {
		b.WriteByte('-')
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if fi.Mode&(1<<(8-i)) != 0 {
			b.WriteByte(rwx[i])
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// sizeText renders n bytes, for people when human is set.
func sizeText(n int64, human bool) string {
	if human {
		return formatSize(n)
	}
	return fmt.Sprint(n)
}

// timeText renders a time for listings; the zero time is "-".
func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// stateText is the persistence column: INCOMPLETE for files being written.
func stateText(fi client.FileInfo) string {
	if !fi.Complete {
		return "INCOMPLETE"
	}
	return fi.PersistenceName()
}

// lsRow is one line of ls.
func lsRow(fi client.FileInfo, human bool) []string {
	mem := "DIR"
	if !fi.IsDir {
		mem = fmt.Sprintf("%d%%", fi.InMemoryPercent)
	}
	return []string{
		modeString(fi), fi.Owner, fi.Group, sizeText(fi.Length, human), stateText(fi), mem,
		timeText(fi.Modified), fi.Path,
	}
}

// writeTable prints rows with columns padded to their widest cell; the columns whose
// index is in right are right-aligned, and the last column is never padded.
func writeTable(w io.Writer, rows [][]string, right ...int) error {
	if len(rows) == 0 {
		return nil
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], len(cell))
		}
	}
	isRight := make(map[int]bool, len(right))
	for _, i := range right {
		isRight[i] = true
	}
	var b strings.Builder
	for _, r := range rows {
		for i, cell := range r {
			switch {
			case i == len(r)-1:
				b.WriteString(cell)
			case isRight[i]:
				fmt.Fprintf(&b, "%*s  ", widths[i], cell)
			default:
				fmt.Fprintf(&b, "%-*s  ", widths[i], cell)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func runLs(s *shell, args []string) error {
	human := s.c.Bool("human-readable")
	if len(args) == 0 {
		args = []string{"/"}
	}
	for _, a := range args {
		p := absPath(a)
		var list []client.FileInfo
		var err error
		if s.c.Bool("directory") {
			var fi client.FileInfo
			fi, err = s.cl.Stat(s.ctx, p)
			list = []client.FileInfo{fi}
		} else {
			list, err = s.cl.List(s.ctx, p, client.ListOptions{Recursive: s.c.Bool("recursive")})
		}
		if err != nil {
			s.fail(a, err)
			continue
		}
		rows := make([][]string, 0, len(list))
		for _, fi := range list {
			rows = append(rows, lsRow(fi, human))
		}
		if err := writeTable(s.out, rows, 3); err != nil {
			return &outputError{err}
		}
	}
	return nil
}

// usage sums a subtree: its directories (the root included), files, bytes and cached bytes.
type usage struct {
	dirs, files, bytes, cached int64
}

func (u *usage) add(fi client.FileInfo) {
	if fi.IsDir {
		u.dirs++
		return
	}
	u.files++
	u.bytes += fi.Length
	u.cached += fi.Length * int64(fi.InMemoryPercent) / 100
}

// subtreeUsage sums the subtree of p; with byChild, it also sums each direct child's
// subtree, keyed by the child's path, in listing order.
func subtreeUsage(s *shell, p string, byChild bool) (usage, client.FileInfo, []string, map[string]*usage, error) {
	var total usage
	root, err := s.cl.Stat(s.ctx, p)
	if err != nil {
		return total, root, nil, nil, err
	}
	total.add(root)
	children := map[string]*usage{}
	var order []string
	if !root.IsDir {
		return total, root, order, children, nil
	}
	list, err := s.cl.List(s.ctx, p, client.ListOptions{Recursive: true})
	if err != nil {
		return total, root, nil, nil, err
	}
	prefix := strings.TrimSuffix(root.Path, "/") + "/"
	for _, fi := range list {
		total.add(fi)
		if !byChild {
			continue
		}
		rest := strings.TrimPrefix(fi.Path, prefix)
		child := prefix + strings.SplitN(rest, "/", 2)[0]
		u, ok := children[child]
		if !ok {
			u = &usage{}
			children[child] = u
			order = append(order, child)
		}
		u.add(fi)
	}
	return total, root, order, children, nil
}

func duRow(u usage, p string, human bool) []string {
	pct := 100
	if u.bytes > 0 {
		pct = int(u.cached * 100 / u.bytes)
	}
	return []string{sizeText(u.bytes, human), sizeText(u.cached, human), fmt.Sprintf("(%d%%)", pct), p}
}

func runDu(s *shell, args []string) error {
	human, summary := s.c.Bool("human-readable"), s.c.Bool("summary")
	for _, a := range args {
		total, root, order, children, err := subtreeUsage(s, absPath(a), !summary)
		if err != nil {
			s.fail(a, err)
			continue
		}
		var rows [][]string
		if summary || !root.IsDir {
			rows = append(rows, duRow(total, root.Path, human))
		} else {
			for _, child := range order {
				rows = append(rows, duRow(*children[child], child, human))
			}
		}
		if err := writeTable(s.out, rows, 0, 1, 2); err != nil {
			return &outputError{err}
		}
	}
	return nil
}

func runCount(s *shell, args []string) error {
	human := s.c.Bool("human-readable")
	for _, a := range args {
		total, root, _, _, err := subtreeUsage(s, absPath(a), false)
		if err != nil {
			s.fail(a, err)
			continue
		}
		s.printf("%12d %12d %18s %s\n", total.dirs, total.files, sizeText(total.bytes, human), root.Path)
	}
	return nil
}

func runTest(s *shell, args []string) error {
	var tests []string
	for _, t := range []string{"e", "d", "f", "s", "z"} {
		if s.c.Bool(t) {
			tests = append(tests, t)
		}
	}
	if len(tests) != 1 {
		return usagef("give exactly one of -e, -d, -f, -s, -z")
	}
	fi, err := s.cl.Stat(s.ctx, absPath(args[0]))
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		s.fail(args[0], err)
		return nil
	}
	exists := err == nil
	var ok bool
	switch tests[0] {
	case "e":
		ok = exists
	case "d":
		ok = exists && fi.IsDir
	case "f":
		ok = exists && !fi.IsDir
	case "s":
		ok = exists && !fi.IsDir && fi.Length > 0
	case "z":
		ok = exists && !fi.IsDir && fi.Length == 0
	}
	// A false test fails the command without a message.
	s.failed = s.failed || !ok
	return nil
}

// joinPath joins a directory and a name into a Sluice path.
func joinPath(dir, name string) string {
	return path.Join(dir, name)
}
