package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/api/sluicepb"
)

// Parsers of `sluice fs` arguments. Each returns an error wrapping errBadArgument, which
// the commands report as usage errors.

var errBadArgument = errors.New("bad argument")

// parseMode reads an octal permission mode of one to four digits ("755", "0644"). The
// setuid, setgid and sticky bits are refused: Sluice keeps permission bits only.
func parseMode(s string) (fs.FileMode, error) {
	if s == "" || len(s) > 4 {
		return 0, fmt.Errorf("mode %q: want 1 to 4 octal digits: %w", s, errBadArgument)
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0, fmt.Errorf("mode %q: want octal digits: %w", s, errBadArgument)
	}
	if v > 0o777 {
		return 0, fmt.Errorf("mode %q: setuid, setgid and sticky bits are not supported: %w", s, errBadArgument)
	}
	return fs.FileMode(v), nil
}

// parseOwner reads "owner", "owner:group" or ":group". The owner comes back empty when
// only the group changes.
func parseOwner(s string) (owner, group string, err error) {
	owner, group, hasGroup := strings.Cut(s, ":")
	switch {
	case owner == "" && !hasGroup:
		return "", "", fmt.Errorf("owner %q: empty: %w", s, errBadArgument)
	case hasGroup && group == "":
		return "", "", fmt.Errorf("owner %q: empty group after ':': %w", s, errBadArgument)
	case owner == "" && group == "":
		return "", "", fmt.Errorf("owner %q: empty: %w", s, errBadArgument)
	}
	for _, name := range []string{owner, group} {
		if strings.ContainsAny(name, ": \t\n/") {
			return "", "", fmt.Errorf("owner %q: bad character in %q: %w", s, name, errBadArgument)
		}
	}
	return owner, group, nil
}

// ttlUnits are the suffixes parseTTL accepts beyond Go's durations: days and weeks.
var ttlUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour},
}

// parseTTL reads a time to live: a Go duration ("90s", "2h30m"), a number of days or
// weeks ("7d", "1.5w"), or a plain number of milliseconds ("60000", as in Alluxio). It
// must be positive.
func parseTTL(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n <= 0 || n > math.MaxInt64/int64(time.Millisecond) {
			return 0, fmt.Errorf("ttl %q: out of range: %w", s, errBadArgument)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	for _, u := range ttlUnits {
		rest, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsNaN(f) || f <= 0 || f*float64(u.unit) >= math.MaxInt64 {
			return 0, fmt.Errorf("ttl %q: %w", s, errBadArgument)
		}
		return time.Duration(f * float64(u.unit)), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("ttl %q: want a duration like 90s, 2h30m, 7d or milliseconds: %w", s, errBadArgument)
	}
	return d, nil
}

// parseTTLAction reads "delete" or "free" (any case).
func parseTTLAction(s string) (sluicepb.TtlAction, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "delete":
		return sluicepb.TtlAction_TTL_ACTION_DELETE, nil
	case "free":
		return sluicepb.TtlAction_TTL_ACTION_FREE, nil
	}
	return 0, fmt.Errorf("ttl action %q: want delete or free: %w", s, errBadArgument)
}

// ttlActionName is the CLI's name of a TTL action.
func ttlActionName(a sluicepb.TtlAction) string {
	if a == sluicepb.TtlAction_TTL_ACTION_FREE {
		return "FREE"
	}
	return "DELETE"
}

// parseOptions reads repeated "key=value" mount options into a map. Keys must not be
// empty or repeated; values may hold '=' and be empty.
func parseOptions(kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("option %q: want key=value: %w", kv, errBadArgument)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("option %q: key %q given twice: %w", kv, k, errBadArgument)
		}
		out[k] = v
	}
	return out, nil
}
