package main

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/client"
)

// Reading commands: cat, head, tail, checksum.

// defaultHeadTail is how much head and tail print without -c, as in Alluxio.
const defaultHeadTail = "1KiB"

func readTypeFlag() cli.Flag {
	return &cli.StringFlag{
		Name:  "read-type",
		Usage: "what reads do with blocks fetched from the UFS: `TYPE` CACHE, NO_CACHE or CACHE_PROMOTE (default: the client's, CACHE)",
	}
}

// openOptions reads the --read-type flag.
func openOptions(s *shell) (client.OpenOptions, error) {
	var opts client.OpenOptions
	if v := s.c.String("read-type"); v != "" {
		rt, err := client.ParseReadType(v)
		if err != nil {
			return opts, usagef("--read-type %q: want CACHE, NO_CACHE or CACHE_PROMOTE", v)
		}
		opts.ReadType = rt
	}
	return opts, nil
}

func fsReadSpecs() []fsSpec {
	countFlag := func(what string) cli.Flag {
		return &cli.StringFlag{Name: "bytes", Aliases: []string{"c"}, Value: defaultHeadTail,
			Usage: "print the " + what + " `SIZE` bytes (e.g. 100, 4KiB, 1MiB)"}
	}
	return []fsSpec{
		{
			name:      "cat",
			usage:     "print files to standard output",
			argsUsage: "PATH...",
			flags:     []cli.Flag{readTypeFlag()},
			minArgs:   1, maxArgs: -1,
			run: runCat,
		},
		{
			name:      "head",
			usage:     "print the first bytes of a file (1 KiB unless -c)",
			argsUsage: "[-c SIZE] PATH",
			flags:     []cli.Flag{countFlag("first"), readTypeFlag()},
			minArgs:   1, maxArgs: 1,
			run: func(s *shell, args []string) error { return runHeadTail(s, args[0], false) },
		},
		{
			name:      "tail",
			usage:     "print the last bytes of a file (1 KiB unless -c)",
			argsUsage: "[-c SIZE] PATH",
			flags:     []cli.Flag{countFlag("last"), readTypeFlag()},
			minArgs:   1, maxArgs: 1,
			run: func(s *shell, args []string) error { return runHeadTail(s, args[0], true) },
		},
		{
			name:      "checksum",
			usage:     "print the checksum of files' content (CRC32C by default, or MD5)",
			argsUsage: "[--algorithm crc32c|md5] PATH...",
			description: "Prints PATH, the algorithm and the checksum in hexadecimal, tab-separated. CRC32C is the\n" +
				"Castagnoli CRC-32 of the whole content (the value the master keeps for files written\n" +
				"through Sluice; computed by reading the file otherwise); MD5 always reads the file.",
			flags: []cli.Flag{
				&cli.StringFlag{Name: "algorithm", Aliases: []string{"a"}, Value: "crc32c", Usage: "checksum `ALGORITHM`: crc32c or md5"},
				readTypeFlag(),
			},
			minArgs: 1, maxArgs: -1,
			run: runChecksum,
		},
	}
}

// trackedWriter remembers the first error of the writer it wraps, so that a copy can tell
// a failed output from a failed read.
type trackedWriter struct {
	w   io.Writer
	err error
}

func (t *trackedWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

// copyOut copies n bytes (all when n < 0) of r to the shell's output. A failed output
// is returned (it ends the command); a failed read is reported on arg.
func copyOut(s *shell, arg string, r io.Reader, n int64) error {
	tw := &trackedWriter{w: s.out}
	var err error
	if n < 0 {
		_, err = io.Copy(tw, r)
	} else {
		_, err = io.CopyN(tw, r, n)
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if tw.err != nil {
		return &outputError{tw.err}
	}
	if err != nil {
		s.fail(arg, err)
	}
	return nil
}

func runCat(s *shell, args []string) error {
	opts, err := openOptions(s)
	if err != nil {
		return err
	}
	for _, a := range args {
		r, err := s.cl.Open(s.ctx, absPath(a), opts)
		if err != nil {
			s.fail(a, err)
			continue
		}
		err = copyOut(s, a, r, -1)
		r.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func runHeadTail(s *shell, arg string, tail bool) error {
	n, err := parseSize(s.c.String("bytes"))
	if err != nil {
		return usagef("-c %q: want a byte count such as 100 or 4KiB", s.c.String("bytes"))
	}
	opts, err := openOptions(s)
	if err != nil {
		return err
	}
	r, err := s.cl.Open(s.ctx, absPath(arg), opts)
	if err != nil {
		s.fail(arg, err)
		return nil
	}
	defer r.Close()
	if tail {
		if _, err := r.Seek(max(0, r.Size()-n), io.SeekStart); err != nil {
			s.fail(arg, err)
			return nil
		}
	}
	return copyOut(s, arg, r, n)
}

func runChecksum(s *shell, args []string) error {
	algo := strings.ToLower(s.c.String("algorithm"))
	if algo != "crc32c" && algo != "md5" {
		return usagef("--algorithm %q: want crc32c or md5", s.c.String("algorithm"))
	}
	opts, err := openOptions(s)
	if err != nil {
		return err
	}
	for _, a := range args {
		sum, err := checksum(s, absPath(a), algo, opts)
		if err != nil {
			s.fail(a, err)
			continue
		}
		s.printf("%s\t%s\t%s\n", absPath(a), strings.ToUpper(algo), sum)
	}
	return nil
}

// crc32cTable is the Castagnoli table, the CRC the blocks and the master use.
var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// checksum returns the hexadecimal checksum of the file p.
func checksum(s *shell, p, algo string, opts client.OpenOptions) (string, error) {
	if algo == "crc32c" {
		fi, err := s.cl.Stat(s.ctx, p)
		if err != nil {
			return "", err
		}
		if fi.IsDir {
			return "", client.ErrIsADirectory
		}
		if fi.HasContentCRC32C && fi.Complete {
			return fmt.Sprintf("%08x", fi.ContentCRC32C), nil
		}
	}
	var h hash.Hash = md5.New()
	if algo == "crc32c" {
		h = crc32.New(crc32cTable)
	}
	r, err := s.cl.Open(s.ctx, p, opts)
	if err != nil {
		return "", err
	}
	defer r.Close()
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
