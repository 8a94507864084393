package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/client"
)

// The `sluice fs` shell behaves like `hdfs dfs`: each failure is reported on standard
// error as "<cmd>: <path>: <reason>", the command goes on with its other paths, and it
// exits 1 if anything failed, 0 otherwise. Usage errors (bad flags, missing arguments)
// print the usage and exit 2. `sluice fs test` exits 1, silently, when its test is false.
//
// Paths are Sluice paths; a relative path is taken relative to "/", and a
// "sluice://host:port" prefix is dropped.

const (
	exitFailure = 1
	exitUsage   = 2
)

// fsSpec describes one `sluice fs` subcommand; fsLeaf turns it into a cli.Command.
type fsSpec struct {
	name        string
	aliases     []string
	usage       string
	argsUsage   string
	description string
	flags       []cli.Flag
	// minArgs and maxArgs bound the number of arguments; maxArgs < 0 means no bound.
	minArgs, maxArgs int
	// run does the work. Failures about single paths are reported with shell.fail and
	// do not stop run; a returned error ends the command: a usageError exits 2, anything
	// else is printed as "<cmd>: <error>" and exits 1.
	run func(s *shell, args []string) error
}

// shell is the state of one run of an fs subcommand.
type shell struct {
	ctx    context.Context
	c      *cli.Context
	cl     *client.Client
	name   string
	out    io.Writer
	errOut io.Writer
	failed bool
}

// usageError is a wrong use of a command: it exits 2 after printing the usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// outputError is a failed write to standard output (a closed pipe): it ends the command.
type outputError struct{ err error }

func (e *outputError) Error() string { return "write output: " + e.err.Error() }
func (e *outputError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// fail reports that the command failed on p and marks the run as failed.
func (s *shell) fail(p string, err error) {
	s.failed = true
	if p == "" {
		fmt.Fprintf(s.errOut, "%s: %s\n", s.name, reason(err))
		return
	}
	fmt.Fprintf(s.errOut, "%s: %s: %s\n", s.name, p, reason(err))
}

// failf reports a failure on p with a reason of the command's own.
func (s *shell) failf(p, format string, args ...any) {
	s.fail(p, errors.New(fmt.Sprintf(format, args...)))
}

// printf writes to standard output; a write error (a closed pipe) fails the command.
func (s *shell) printf(format string, args ...any) {
	if _, err := fmt.Fprintf(s.out, format, args...); err != nil && !s.failed {
		s.fail("", &outputError{err})
	}
}

// reasons are the `hdfs dfs`-style messages of the client's errors, checked in order.
var reasons = []struct {
	err  error
	text string
}{
	// The io/fs errors match the client's sentinels and local files' errors alike.
	{fs.ErrNotExist, "No such file or directory"},
	{fs.ErrExist, "File exists"},
	{fs.ErrPermission, "Permission denied"},
	{client.ErrIsADirectory, "Is a directory"},
	{syscall.EISDIR, "Is a directory"},
	{client.ErrNotADirectory, "Not a directory"},
	{syscall.ENOTDIR, "Not a directory"},
	{client.ErrDirectoryNotEmpty, "Directory is not empty"},
	{client.ErrReadOnly, "Read-only mount"},
	{client.ErrIsMountPoint, "Is a mount point"},
	{client.ErrNotAMountPoint, "Not a mount point"},
	{client.ErrFileIncomplete, "File is incomplete"},
	{client.ErrNotPersisted, "File is not persisted"},
	{client.ErrNoSpace, "No space left in the cluster"},
	{context.Canceled, "Interrupted"},
	{context.DeadlineExceeded, "Timed out"},
	{client.ErrTimeout, "Timed out"},
}

// reason renders err for "<cmd>: <path>: <reason>": a fixed message for well-known
// causes, the server's message for other server errors, the error text otherwise.
func reason(err error) string {
	if errors.Is(err, client.ErrFileLost) {
		var ce *client.Error
		if errors.As(err, &ce) && ce.JobID != "" {
			// The server's message says why the recompute failed (the job's exit status).
			if why := strings.TrimPrefix(ce.Message, ce.Path+": "); why != "" {
				return "File is lost (its job " + ce.JobID + " did not recompute it): " + why
			}
			return "File is lost (its job " + ce.JobID + " did not recompute it)"
		}
		return "File is lost"
	}
	// A failure about one block (an executor's storage) is not about the path: a fixed
	// text like "No such file or directory" would mislead, so the server's words are kept.
	var ce *client.Error
	if errors.As(err, &ce) && ce.BlockID != 0 && ce.Message != "" {
		return fmt.Sprintf("block %d: %s", ce.BlockID, ce.Message)
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.text
		}
	}
	if ce != nil && ce.Message != "" {
		return ce.Message
	}
	return err.Error()
}

// absPath turns a command-line path into an absolute, clean Sluice path.
func absPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "sluice://"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			p = rest[i:]
		} else {
			p = "/"
		}
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return path.Clean(p)
}

// helpFlagOnce guards the one change of urfave's global help flag.
var helpFlagOnce sync.Once

// useLongHelpFlag makes --help the only help flag: -h is "human-readable" in ls, du and
// count, as in hdfs dfs. It changes urfave's package-level HelpFlag once, before any app
// runs, so that concurrent runs only read it.
func useLongHelpFlag() {
	helpFlagOnce.Do(func() {
		cli.HelpFlag = &cli.BoolFlag{Name: "help", Usage: "show help"}
	})
}

// fsCommand is the `sluice fs` command group.
func fsCommand() *cli.Command {
	var subs []*cli.Command
	for _, group := range [][]fsSpec{fsListSpecs(), fsStatSpecs(), fsReadSpecs(), fsWriteSpecs(), fsCopySpecs(), fsMetaSpecs()} {
		for _, spec := range group {
			subs = append(subs, fsLeaf(spec))
		}
	}
	return &cli.Command{
		Name:  "fs",
		Usage: "work with files and directories in Sluice (like hdfs dfs)",
		Description: "Each subcommand reports failures as \"<cmd>: <path>: <reason>\" on standard error, goes on\n" +
			"with its other paths and exits 1 if anything failed; usage errors exit 2.\n" +
			"Relative paths are relative to \"/\".",
		Flags:       clientFlags(),
		Subcommands: subs,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				fmt.Fprintf(c.App.ErrWriter, "fs: unknown command %q\n", c.Args().First())
				printUsage(c.App.ErrWriter, c.Command)
				return cli.Exit("", exitUsage)
			}
			return cli.ShowSubcommandHelp(c)
		},
		OnUsageError: onUsageError,
	}
}

// fsLeaf builds the cli.Command of spec: client flags, argument checks, connection and
// exit status.
func fsLeaf(spec fsSpec) *cli.Command {
	return &cli.Command{
		Name:                   spec.name,
		Aliases:                spec.aliases,
		Usage:                  spec.usage,
		ArgsUsage:              spec.argsUsage,
		Description:            spec.description,
		Flags:                  append(spec.flags, clientFlags()...),
		UseShortOptionHandling: true,
		HideHelpCommand:        true,
		OnUsageError:           onUsageError,
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if f := misplacedFlag(c.Command, args); f != "" {
				return usageExit(c, spec.name, fmt.Sprintf("flag %s after the arguments: flags go first", f))
			}
			if len(args) < spec.minArgs || (spec.maxArgs >= 0 && len(args) > spec.maxArgs) {
				return usageExit(c, spec.name, wrongArgs(spec, len(args)))
			}
			s := &shell{ctx: c.Context, c: c, name: spec.name, out: c.App.Writer, errOut: c.App.ErrWriter}
			cl, err := newClient(c.Context, c)
			if err != nil {
				s.fail("", err)
				return cli.Exit("", exitFailure)
			}
			defer cl.Close()
			s.cl = cl
			if err := spec.run(s, args); err != nil {
				var ue *usageError
				if errors.As(err, &ue) {
					return usageExit(c, spec.name, ue.msg)
				}
				s.fail("", err)
			}
			if s.failed {
				return cli.Exit("", exitFailure)
			}
			return nil
		},
	}
}

// misplacedFlag returns the first argument that names one of cmd's flags (urfave stops
// parsing flags at the first argument, so `ls / -R` would take -R for a path), or "".
func misplacedFlag(cmd *cli.Command, args []string) string {
	for _, a := range args {
		if len(a) < 2 || a[0] != '-' {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "help" || hasFlag(cmd, name) {
			return a
		}
	}
	return ""
}

func wrongArgs(spec fsSpec, n int) string {
	switch {
	case spec.minArgs == spec.maxArgs:
		return fmt.Sprintf("expects %d argument(s), got %d", spec.minArgs, n)
	case n < spec.minArgs:
		return fmt.Sprintf("expects at least %d argument(s), got %d", spec.minArgs, n)
	default:
		return fmt.Sprintf("expects at most %d argument(s), got %d", spec.maxArgs, n)
	}
}

// usageExit prints "<name>: <msg>" and the command's usage to standard error and exits 2.
func usageExit(c *cli.Context, name, msg string) error {
	fmt.Fprintf(c.App.ErrWriter, "%s: %s\n", name, msg)
	printUsage(c.App.ErrWriter, c.Command)
	return cli.Exit("", exitUsage)
}

// onUsageError handles bad flags like a usage error of the command.
func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "sluice"
	if c.Command != nil {
		name = c.Command.Name
	}
	return usageExit(c, name, err.Error())
}

func printUsage(w io.Writer, cmd *cli.Command) {
	if cmd == nil {
		return
	}
	full := cmd.HelpName
	if full == "" {
		full = cmd.Name
	}
	args := cmd.ArgsUsage
	if len(cmd.Subcommands) > 0 {
		args = "COMMAND [options] [arguments...]"
	}
	fmt.Fprintf(w, "Usage: %s [options] %s\nRun '%s --help' for details.\n", full, args, full)
}
