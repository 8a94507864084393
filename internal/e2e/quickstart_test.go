package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The README's Quickstart is the part between a line starting with "<!-- quickstart"
// and the line "<!-- /quickstart -->". In its fenced code blocks, a line "$ sluice …" is
// a command, and the lines after it, up to the next command or the end of the block,
// are its expected output: "…" stands for any text within a line, and a line holding
// only "…" for any number of lines (none included). Runs of spaces match runs of
// spaces or tabs, and the default master address stands for the started master's.

const (
	quickstartStart = "<!-- quickstart"
	quickstartEnd   = "<!-- /quickstart -->"
	// defaultMaster is the master address the README's outputs show.
	defaultMaster = "127.0.0.1:19998"
)

// quickstartStep is one command of the Quickstart and the output it shows.
type quickstartStep struct {
	line int      // line number in the README, for messages
	args []string // the words after "sluice"
	want []string // expected output lines; none: the output is not checked
}

// parseQuickstart extracts the Quickstart's commands from a README.
func parseQuickstart(readme string) ([]quickstartStep, error) {
	lines := strings.Split(readme, "\n")
	var steps []quickstartStep
	in, fenced, found := false, false, false
	for i, l := range lines {
		switch {
		case !in && strings.HasPrefix(l, quickstartStart):
			in, found = true, true
			continue
		case !in:
			continue
		case strings.TrimSpace(l) == quickstartEnd:
			if fenced {
				return nil, fmt.Errorf("line %d: the quickstart ends inside a code block", i+1)
			}
			if len(steps) == 0 {
				return nil, errors.New("the quickstart has no command")
			}
			return steps, nil
		case strings.HasPrefix(l, "```"):
			fenced = !fenced
			continue
		case !fenced:
			continue
		}
		if cmd, ok := strings.CutPrefix(l, "$ "); ok {
			words, err := splitWords(cmd)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			if len(words) < 2 || words[0] != "sluice" {
				return nil, fmt.Errorf("line %d: %q is not a sluice command; the quickstart runs only those", i+1, cmd)
			}
			steps = append(steps, quickstartStep{line: i + 1, args: words[1:]})
			continue
		}
		if len(steps) == 0 {
			return nil, fmt.Errorf("line %d: output %q before any command", i+1, l)
		}
		last := &steps[len(steps)-1]
		last.want = append(last.want, l)
	}
	if !found {
		return nil, fmt.Errorf("no %q marker", quickstartStart)
	}
	return nil, fmt.Errorf("no %q marker after %q", quickstartEnd, quickstartStart)
}

// splitWords splits a command line into words as a POSIX shell does for the simple
// commands of the README: blanks separate words; single quotes keep everything
// literally; double quotes keep everything but \" and \\; a backslash outside quotes
// escapes the next character. Anything else a shell would interpret (pipes,
// redirections, variables, globs) is refused, so the README shows only what the test
// runs.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("%q: unterminated single quote", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				} else if s[i] == '$' || s[i] == '`' {
					return nil, fmt.Errorf("%q: %q inside double quotes is not supported", s, s[i])
				}
				w.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, fmt.Errorf("%q: unterminated double quote", s)
			}
			inWord = true
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("%q: trailing backslash", s)
			}
			i++
			w.WriteByte(s[i])
			inWord = true
		case strings.IndexByte("|&;<>()$`*?[]#~{}", c) >= 0:
			return nil, fmt.Errorf("%q: shell syntax %q is not supported", s, c)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// outputPattern compiles expected output lines into a regular expression matching a
// whole output (see the comment at the top of the file). master replaces the default
// master address.
func outputPattern(want []string, master string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`\A`)
	spaces := regexp.MustCompile(` +`)
	for _, l := range want {
		l = strings.TrimRight(l, " \t")
		if l == "…" {
			b.WriteString(`(?:[^\n]*\n)*?`)
			continue
		}
		l = strings.ReplaceAll(l, defaultMaster, master)
		parts := strings.Split(l, "…")
		for i, p := range parts {
			if i > 0 {
				b.WriteString(`[^\n]*`)
			}
			b.WriteString(spaces.ReplaceAllString(regexp.QuoteMeta(p), `[ \t]+`))
		}
		b.WriteString(`\n`)
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

// normalizeOutput drops trailing blanks of each line and ends the text with a newline.
func normalizeOutput(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n") + "\n"
}

// checkOutput fails the test when got does not match the step's expected output.
func checkOutput(t *testing.T, step quickstartStep, master, got string) {
	t.Helper()
	if len(step.want) == 0 {
		return
	}
	if re := outputPattern(step.want, master); !re.MatchString(normalizeOutput(got)) {
		t.Errorf("README.md:%d: sluice %s printed\n%s\nwhich does not match the README's\n%s",
			step.line, strings.Join(step.args, " "), got, strings.Join(step.want, "\n"))
	}
}

func TestLocal_Quickstart(t *testing.T) {
	needBinary(t)
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseQuickstart(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if steps[0].args[0] != "local" {
		t.Fatalf("README.md:%d: the quickstart must start with sluice local, not sluice %s", steps[0].line, strings.Join(steps[0].args, " "))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README.md"), readme, 0o644); err != nil {
		t.Fatal(err)
	}
	lc := startLocal(t, dir, 2, steps[0].args...)
	out := lc.p.stdout()
	checkOutput(t, steps[0], lc.master, out[:strings.Index(out, "Press Ctrl-C to stop.\n")+len("Press Ctrl-C to stop.\n")])
	for _, step := range steps[1:] {
		if step.args[0] == "local" {
			t.Fatalf("README.md:%d: a second sluice local", step.line)
		}
		r := lc.sluice(t, step.args...)
		if r.code != 0 {
			t.Fatalf("README.md:%d: want exit 0, got %v", step.line, r)
		}
		checkOutput(t, step, lc.master, r.stdout)
	}
	lc.interrupt(t)
}

func TestParseQuickstart(t *testing.T) {
	readme := "# T\n\n" + quickstartStart + " -->\n```console\n$ sluice local\nbanner …\n```\ntext\n```console\n" +
		"$ sluice fs ls '/a b'\n$ sluice fs cat /x\nhello\n…\n```\n" + quickstartEnd + "\n"
	got, err := parseQuickstart(readme)
	if err != nil {
		t.Fatal(err)
	}
	want := []quickstartStep{
		{line: 5, args: []string{"local"}, want: []string{"banner …"}},
		{line: 10, args: []string{"fs", "ls", "/a b"}},
		{line: 11, args: []string{"fs", "cat", "/x"}, want: []string{"hello", "…"}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(quickstartStep{})); diff != "" {
		t.Errorf("parseQuickstart (-want +got):\n%s", diff)
	}

	for name, bad := range map[string]string{
		"no start":        "```\n$ sluice ls\n```\n" + quickstartEnd + "\n",
		"no end":          quickstartStart + " -->\n```\n$ sluice ls\n```\n",
		"no command":      quickstartStart + " -->\ntext\n" + quickstartEnd + "\n",
		"not sluice":      quickstartStart + " -->\n```\n$ ls /\n```\n" + quickstartEnd + "\n",
		"output first":    quickstartStart + " -->\n```\nhello\n$ sluice ls\n```\n" + quickstartEnd + "\n",
		"unclosed fence":  quickstartStart + " -->\n```\n$ sluice ls\n" + quickstartEnd + "\n",
		"shell pipe":      quickstartStart + " -->\n```\n$ sluice fs cat /x | head\n```\n" + quickstartEnd + "\n",
		"bare sluice":     quickstartStart + " -->\n```\n$ sluice\n```\n" + quickstartEnd + "\n",
		"unclosed quote":  quickstartStart + " -->\n```\n$ sluice fs ls 'a\n```\n" + quickstartEnd + "\n",
		"shell variables": quickstartStart + " -->\n```\n$ sluice fs ls \"$HOME\"\n```\n" + quickstartEnd + "\n",
	} {
		if steps, err := parseQuickstart(bad); err == nil {
			t.Errorf("%s: parseQuickstart accepted it: %v", name, steps)
		}
	}
}

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"sluice fs ls /", []string{"sluice", "fs", "ls", "/"}},
		{"  sluice\tfs  ls  ", []string{"sluice", "fs", "ls"}},
		{"stat -f '%N is a %F' /x", []string{"stat", "-f", "%N is a %F", "/x"}},
		{`a "b \"c\" \\ d" e\ f`, []string{"a", `b "c" \ d`, "e f"}},
		{`a''b "" c`, []string{"ab", "", "c"}},
		{"", nil},
	} {
		got, err := splitWords(tc.in)
		if err != nil {
			t.Errorf("splitWords(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("splitWords(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{"a 'b", `a "b`, `a\`, "a | b", "a > f", "a $X", "a *", `"a $X"`, "a; b"} {
		if got, err := splitWords(bad); err == nil {
			t.Errorf("splitWords(%q) = %q, want an error", bad, got)
		}
	}
}

func TestOutputPattern(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []string
		out  string
		ok   bool
	}{
		{"exact", []string{"hello"}, "hello\n", true},
		{"exact differs", []string{"hello"}, "hullo\n", false},
		{"extra line", []string{"hello"}, "hello\nmore\n", false},
		{"ellipsis in line", []string{"a … z"}, "a b c z\n", true},
		{"spaces stretch", []string{"a  b"}, "a \t   b\n", true},
		{"spaces needed", []string{"a  b"}, "ab\n", false},
		{"ellipsis line many", []string{"first", "…", "last"}, "first\nx\ny\nlast\n", true},
		{"ellipsis line none", []string{"first", "…", "last"}, "first\nlast\n", true},
		{"ellipsis line end", []string{"first", "…"}, "first\nx\n", true},
		{"master address", []string{"Master: 127.0.0.1:19998 (leader)"}, "Master: 127.0.0.1:4242 (leader)\n", true},
		{"regexp characters literal", []string{"a.b (c)"}, "axb (c)\n", false},
	} {
		got := outputPattern(tc.want, "127.0.0.1:4242").MatchString(normalizeOutput(tc.out))
		if got != tc.ok {
			t.Errorf("%s: %q against %q: match %v, want %v", tc.name, tc.want, tc.out, got, tc.ok)
		}
	}
}
