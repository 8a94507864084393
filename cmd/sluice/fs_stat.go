package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// Metadata display commands: stat and location.

func fsStatSpecs() []fsSpec {
	return []fsSpec{
		{
			name:      "stat",
			usage:     "print the metadata of paths",
			argsUsage: "[-f FORMAT] PATH...",
			description: "Prints every field of each PATH: type, IDs, length, block size and block IDs, state and\n" +
				"persistence state (NOT_PERSISTED, TO_BE_PERSISTED, PERSISTED or LOST), UFS path, owner,\n" +
				"group, mode, pin, TTL, times, cached share, producing job, mount and content checksum.\n\n" +
				"With -f, prints FORMAT instead, where %a is the octal mode, %A the symbolic mode, %b the\n" +
				"length, %F the type, %g the group, %u the owner, %n the name, %N the path, %o the block\n" +
				"size, %i the file ID, %p the persistence state, %m the cached share in percent, %U the UFS\n" +
				"path, %y and %Y the modification time (UTC text, Unix milliseconds), %x and %X the access\n" +
				"time, %% a percent sign; \\n and \\t are a newline and a tab. A newline ends each line.",
			flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "print `FORMAT` instead of every field"},
			},
			minArgs: 1, maxArgs: -1,
			run: runStat,
		},
		{
			name:        "location",
			usage:       "print where each block of files is cached",
			argsUsage:   "PATH...",
			description: "Prints, for each block of each file PATH, its ID, offset, length and checksum, the executors\nand tiers holding a copy, and the UFS range it can be read from.",
			minArgs:     1, maxArgs: -1,
			run: runLocation,
		},
	}
}

func runStat(s *shell, args []string) error {
	format := s.c.String("format")
	if s.c.IsSet("format") {
		// Check the format once, before any path.
		if _, err := formatStat(format, client.FileInfo{}); err != nil {
			return usagef("%v", err)
		}
	}
	printed := false
	for _, a := range args {
		fi, err := s.cl.Stat(s.ctx, absPath(a))
		if err != nil {
			s.fail(a, err)
			continue
		}
		if s.c.IsSet("format") {
			out, _ := formatStat(format, fi)
			s.printf("%s\n", out)
			continue
		}
		// A blank line separates the paths.
		if printed {
			s.printf("\n")
		}
		s.printf("%s", statText(fi))
		printed = true
	}
	return nil
}

// statText is every field of fi, one "Name: value" line each.
func statText(fi client.FileInfo) string {
	kind := "file"
	if fi.IsDir {
		kind = "directory"
	}
	state := "COMPLETE"
	if !fi.Complete {
		state = "INCOMPLETE"
	}
	ttl, action := "none", "-"
	if fi.TTL > 0 {
		ttl, action = fi.TTL.String(), ttlActionName(fi.TTLAction)
	}
	ids := make([]string, len(fi.BlockIDs))
	for i, id := range fi.BlockIDs {
		ids[i] = strconv.FormatUint(id, 10)
	}
	crc := "-"
	if fi.HasContentCRC32C {
		crc = fmt.Sprintf("%08x", fi.ContentCRC32C)
	}
	job := fi.JobID
	if job == "" {
		job = "-"
	}
	lines := [][2]string{
		{"Path", fi.Path},
		{"Type", kind},
		{"File ID", strconv.FormatUint(fi.FileID, 10)},
		{"Parent ID", strconv.FormatUint(fi.ParentID, 10)},
		{"Length", strconv.FormatInt(fi.Length, 10)},
		{"Block size", strconv.FormatInt(fi.BlockSize, 10)},
		{"Blocks", strconv.Itoa(len(fi.BlockIDs))},
		{"Block IDs", "[" + strings.Join(ids, " ") + "]"},
		{"State", state},
		{"Persistence", fi.PersistenceName()},
		{"UFS path", fi.UFSPath},
		{"Owner", fi.Owner},
		{"Group", fi.Group},
		{"Mode", fmt.Sprintf("%s (%04o)", modeString(fi), uint32(fi.Mode.Perm()))},
		{"Pinned", strconv.FormatBool(fi.Pinned)},
		{"TTL", ttl},
		{"TTL action", action},
		{"Created", timeText(fi.Created)},
		{"Modified", timeText(fi.Modified)},
		{"Accessed", timeText(fi.LastAccess)},
		{"In memory", fmt.Sprintf("%d%%", fi.InMemoryPercent)},
		{"Job", job},
		{"Mount point", strconv.FormatBool(fi.MountPoint)},
		{"Mount ID", strconv.FormatUint(fi.MountID, 10)},
		{"Content CRC32C", crc},
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%-15s %s\n", l[0]+":", l[1])
	}
	return b.String()
}

// formatStat renders fi with a stat -f format (see the stat command's description). An
// unknown directive or a trailing '%' or '\' is an error wrapping errBadArgument.
func formatStat(format string, fi client.FileInfo) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if ch != '%' && ch != '\\' {
			b.WriteByte(ch)
			continue
		}
		if i+1 == len(format) {
			return "", fmt.Errorf("format %q: ends with %q: %w", format, ch, errBadArgument)
		}
		i++
		d := format[i]
		if ch == '\\' {
			switch d {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\':
				b.WriteByte('\\')
			default:
				return "", fmt.Errorf("format %q: unknown escape \\%c: %w", format, d, errBadArgument)
			}
			continue
		}
		v, ok := statDirective(d, fi)
		if !ok {
			return "", fmt.Errorf("format %q: unknown directive %%%c: %w", format, d, errBadArgument)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// statDirective renders one %-directive of formatStat.
func statDirective(d byte, fi client.FileInfo) (string, bool) {
	utc := func(ms int64, zero bool) string {
		if zero {
			return "-"
		}
		return fmt.Sprint(ms)
	}
	switch d {
	case '%':
		return "%", true
	case 'a':
		return fmt.Sprintf("%o", uint32(fi.Mode.Perm())), true
	case 'A':
		return modeString(fi), true
	case 'b':
		return strconv.FormatInt(fi.Length, 10), true
	case 'F':
		if fi.IsDir {
			return "directory", true
		}
		return "regular file", true
	case 'g':
		return fi.Group, true
	case 'u':
		return fi.Owner, true
	case 'n':
		return fi.Name, true
	case 'N':
		return fi.Path, true
	case 'o':
		return strconv.FormatInt(fi.BlockSize, 10), true
	case 'i':
		return strconv.FormatUint(fi.FileID, 10), true
	case 'p':
		return stateText(fi), true
	case 'm':
		return strconv.Itoa(fi.InMemoryPercent), true
	case 'U':
		return fi.UFSPath, true
	case 'y':
		if fi.Modified.IsZero() {
			return "-", true
		}
		return fi.Modified.UTC().Format("2006-01-02 15:04:05"), true
	case 'Y':
		return utc(fi.Modified.UnixMilli(), fi.Modified.IsZero()), true
	case 'x':
		if fi.LastAccess.IsZero() {
			return "-", true
		}
		return fi.LastAccess.UTC().Format("2006-01-02 15:04:05"), true
	case 'X':
		return utc(fi.LastAccess.UnixMilli(), fi.LastAccess.IsZero()), true
	}
	return "", false
}

func runLocation(s *shell, args []string) error {
	for _, a := range args {
		resp, err := s.cl.BlockLocations(s.ctx, absPath(a))
		if err != nil {
			s.fail(a, err)
			continue
		}
		f := resp.GetFile()
		s.printf("%s: %d blocks, %d bytes, %s\n", f.GetPath(), len(resp.GetBlocks()), f.GetLength(),
			strings.TrimPrefix(f.GetPersistenceState().String(), "PERSISTENCE_STATE_"))
		for i, b := range resp.GetBlocks() {
			s.printf("%s", blockText(i, b))
		}
	}
	return nil
}

// blockText describes one block of location's output.
func blockText(i int, b *sluicepb.FileBlockInfo) string {
	var sb strings.Builder
	blk := b.GetBlock()
	fmt.Fprintf(&sb, "block %d: id %d offset %d length %d", i, blk.GetBlockId(), b.GetOffset(), blk.GetLength())
	if blk.Crc32C != nil {
		fmt.Fprintf(&sb, " crc32c %08x", blk.GetCrc32C())
	}
	sb.WriteByte('\n')
	for _, l := range b.GetLocations() {
		fmt.Fprintf(&sb, "  executor %d %s host %s tier %s\n", l.GetExecutorId(), l.GetRpcAddress(), l.GetHost(), l.GetTier())
	}
	if len(b.GetLocations()) == 0 {
		sb.WriteString("  not cached\n")
	}
	if u := b.GetUfs(); u != nil {
		fmt.Fprintf(&sb, "  ufs %s offset %d length %d\n", u.GetFile().GetUri(), u.GetOffsetInFile(), u.GetLength())
	}
	for _, h := range b.GetUfsLocations() {
		fmt.Fprintf(&sb, "  ufs host %s\n", h)
	}
	return sb.String()
}
