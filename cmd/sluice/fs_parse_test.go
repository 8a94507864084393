package main

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want fs.FileMode
		ok   bool
	}{
		{"755", 0o755, true},
		{"0644", 0o644, true},
		{"0", 0, true},
		{"7", 0o7, true},
		{"0777", 0o777, true},
		{"1777", 0, false},
		{"4755", 0, false},
		{"", 0, false},
		{"888", 0, false},
		{"07777", 0, false},
		{"rwx", 0, false},
		{"-644", 0, false},
		{"+644", 0, false},
		{" 644", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseMode(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("parseMode(%q) = %o, %v; want %o, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, errBadArgument) {
				t.Errorf("error %v does not wrap errBadArgument", err)
			}
		})
	}
}

func FuzzParseMode(f *testing.F) {
	for _, s := range []string{"755", "0644", "1777", "", "9", "0x1f", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMode(s)
		if err != nil {
			if !errors.Is(err, errBadArgument) {
				t.Fatalf("parseMode(%q): error %v does not wrap errBadArgument", s, err)
			}
			return
		}
		if m&^fs.ModePerm != 0 {
			t.Fatalf("parseMode(%q) = %v: more than permission bits", s, m)
		}
		if len(s) > 4 {
			t.Fatalf("parseMode(%q) accepted more than four digits", s)
		}
	})
}

func TestParseOwner(t *testing.T) {
	for _, tc := range []struct {
		in           string
		owner, group string
		ok           bool
	}{
		{"alice", "alice", "", true},
		{"alice:staff", "alice", "staff", true},
		{":staff", "", "staff", true},
		{"", "", "", false},
		{":", "", "", false},
		{"alice:", "", "", false},
		{"a:b:c", "", "", false},
		{"a b", "", "", false},
		{"a/b", "", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			owner, group, err := parseOwner(tc.in)
			if (err == nil) != tc.ok || owner != tc.owner || group != tc.group {
				t.Fatalf("parseOwner(%q) = %q, %q, %v; want %q, %q, ok %v", tc.in, owner, group, err, tc.owner, tc.group, tc.ok)
			}
		})
	}
}

func FuzzParseOwner(f *testing.F) {
	for _, s := range []string{"alice", "alice:staff", ":staff", ":", "a:", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		owner, group, err := parseOwner(s)
		if err != nil {
			if !errors.Is(err, errBadArgument) {
				t.Fatalf("parseOwner(%q): error %v does not wrap errBadArgument", s, err)
			}
			return
		}
		if owner == "" && group == "" {
			t.Fatalf("parseOwner(%q) accepted neither owner nor group", s)
		}
		// The parts put back together give the input.
		back := owner
		if strings.Contains(s, ":") {
			back += ":" + group
		}
		if back != s || strings.ContainsAny(owner+group, ": \t\n/") {
			t.Fatalf("parseOwner(%q) = %q, %q", s, owner, group)
		}
	})
}

func TestParseTTL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"2h30m", 150 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1.5d", 36 * time.Hour, true},
		{"2w", 14 * 24 * time.Hour, true},
		{"60000", time.Minute, true},
		{" 1h ", time.Hour, true},
		{"0", 0, false},
		{"0s", 0, false},
		{"-5s", 0, false},
		{"-1", 0, false},
		{"d", 0, false},
		{"NaNd", 0, false},
		{"1e300d", 0, false},
		{"9223372036854775807", 0, false},
		{"soon", 0, false},
		{"", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseTTL(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("parseTTL(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"90s", "7d", "1.5w", "60000", "-1", "1e300d", "Infd", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseTTL(s)
		if err != nil {
			if !errors.Is(err, errBadArgument) {
				t.Fatalf("parseTTL(%q): error %v does not wrap errBadArgument", s, err)
			}
			return
		}
		if d <= 0 {
			t.Fatalf("parseTTL(%q) = %v, not positive", s, d)
		}
	})
}

func TestParseTTLAction(t *testing.T) {
	for in, want := range map[string]sluicepb.TtlAction{
		"delete": sluicepb.TtlAction_TTL_ACTION_DELETE, "FREE": sluicepb.TtlAction_TTL_ACTION_FREE, " Free ": sluicepb.TtlAction_TTL_ACTION_FREE,
	} {
		if got, err := parseTTLAction(in); err != nil || got != want {
			t.Errorf("parseTTLAction(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseTTLAction("keep"); !errors.Is(err, errBadArgument) {
		t.Errorf("parseTTLAction(keep) = %v, want errBadArgument", err)
	}
}

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want map[string]string
		ok   bool
	}{
		{"none", nil, map[string]string{}, true},
		{"simple", []string{"a=1", "b=2"}, map[string]string{"a": "1", "b": "2"}, true},
		{"equals in value", []string{"url=http://x/?a=b"}, map[string]string{"url": "http://x/?a=b"}, true},
		{"empty value", []string{"a="}, map[string]string{"a": ""}, true},
		{"spaces around key", []string{" a =1"}, map[string]string{"a": "1"}, true},
		{"no equals", []string{"a"}, nil, false},
		{"empty key", []string{"=1"}, nil, false},
		{"duplicate", []string{"a=1", "a=2"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOptions(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("parseOptions(%q) error %v, want ok %v", tc.in, err, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); tc.ok && diff != "" {
				t.Errorf("parseOptions(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add("a=1", "b=2")
	f.Add("a", "=")
	f.Add("k=v=w", "k=x")
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := parseOptions([]string{a, b})
		if err != nil {
			if !errors.Is(err, errBadArgument) {
				t.Fatalf("parseOptions(%q, %q): error %v does not wrap errBadArgument", a, b, err)
			}
			return
		}
		if len(got) != 2 {
			t.Fatalf("parseOptions(%q, %q) = %v: want two keys", a, b, got)
		}
		for k := range got {
			if k == "" || strings.TrimSpace(k) != k || !(strings.Contains(a, k) && strings.Contains(b, "=") || strings.Contains(b, k)) {
				t.Fatalf("parseOptions(%q, %q) = %v", a, b, got)
			}
		}
	})
}

func TestFormatStat(t *testing.T) {
	fi := client.FileInfo{
		Path: "/d/f", Name: "f", Length: 42, BlockSize: 1024, FileID: 7, Mode: 0o640, Owner: "o", Group: "g",
		Persistence: sluicepb.PersistenceState_PERSISTENCE_STATE_PERSISTED, Complete: true, InMemoryPercent: 50,
		UFSPath: "s3://b/d/f", Modified: time.UnixMilli(86400000), LastAccess: time.UnixMilli(86401000),
	}
	for _, tc := range []struct {
		format, want string
		ok           bool
	}{
		{"%n %N %b %o %i", "f /d/f 42 1024 7", true},
		{"%a %A %u:%g %F", "640 -rw-r----- o:g regular file", true},
		{"%p %m%% %U", "PERSISTED 50% s3://b/d/f", true},
		{"%y %Y %x %X", "1970-01-02 00:00:00 86400000 1970-01-02 00:00:01 86401000", true},
		{`a\tb\nc\\`, "a\tb\nc\\", true},
		{"plain", "plain", true},
		{"", "", true},
		{"%", "", false},
		{`\`, "", false},
		{"%Z", "", false},
		{`\q`, "", false},
	} {
		t.Run(tc.format, func(t *testing.T) {
			got, err := formatStat(tc.format, fi)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("formatStat(%q) = %q, %v; want %q, ok %v", tc.format, got, err, tc.want, tc.ok)
			}
		})
	}
	if got, _ := formatStat("%y %X", client.FileInfo{}); got != "- -" {
		t.Errorf("formatStat of zero times = %q, want \"- -\"", got)
	}
}

func FuzzFormatStat(f *testing.F) {
	for _, s := range []string{"%n %b", `%F\n`, "%%", "%", `\`, "%Z", "héllo %y"} {
		f.Add(s)
	}
	fi := client.FileInfo{Path: "/p", Name: "p", Length: 1, Modified: time.UnixMilli(1)}
	f.Fuzz(func(t *testing.T, format string) {
		got, err := formatStat(format, fi)
		if err != nil {
			if !errors.Is(err, errBadArgument) {
				t.Fatalf("formatStat(%q): error %v does not wrap errBadArgument", format, err)
			}
			return
		}
		// Text without directives or escapes comes through unchanged.
		if !strings.ContainsAny(format, `%\`) && got != format {
			t.Fatalf("formatStat(%q) = %q", format, got)
		}
		if utf8.ValidString(format) && !utf8.ValidString(got) {
			t.Fatalf("formatStat(%q) = %q: invalid UTF-8 from valid input", format, got)
		}
	})
}

func TestAbsPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "/",
		"/":                         "/",
		"a":                         "/a",
		"a/b/":                      "/a/b",
		"/a/../b":                   "/b",
		"../x":                      "/x",
		"//a//b":                    "/a/b",
		"sluice://host:19998/a/b":   "/a/b",
		"sluice://host:19998":       "/",
		"./rel":                     "/rel",
		"/with space/and:colon.txt": "/with space/and:colon.txt",
	} {
		if got := absPath(in); got != want {
			t.Errorf("absPath(%q) = %q, want %q", in, got, want)
		}
	}
}
