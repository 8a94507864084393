// Command topn writes the N most frequent words of wordcount outputs to its one output:
// the last stage of the example pipeline (gentext → wordcount → topn).
//
//	sluice job submit --name top --input /p/counts --output /p/top -- topn -n 10
//
// Its inputs hold "word<TAB>count" lines (the counts of several inputs add up); the
// output holds the top -n lines in the same format, by count descending and, among equal
// counts, by word, so the output is deterministic. It is written MUST_CACHE, bound to the
// job.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/examples/internal/jobio"
)

func main() {
	var n int
	os.Exit(jobio.Main("topn", os.Args[1:], func(fs *flag.FlagSet) {
		fs.IntVar(&n, "n", 10, "number of words to keep")
	}, func(ctx context.Context, j *client.Job) error {
		out, err := jobio.OneOutput(j.Env)
		if err != nil {
			return err
		}
		if n < 1 || len(j.Env.Inputs) == 0 {
			return errors.New("want -n of at least 1 and an input (--input or SLUICE_INPUTS)")
		}
		counts := map[string]int64{}
		err = jobio.ReadInputs(ctx, j.Client, j.Env.Inputs, func(_ string, r io.Reader) error {
			return ParseCounts(r, counts)
		})
		if err != nil {
			return err
		}
		return jobio.WriteOutput(ctx, j, out, func(w io.Writer) error { return WriteTop(w, Top(counts, n)) })
	}))
}

// Entry is a word with its count.
type Entry struct {
	Word  string
	Count int64
}

// ParseCounts adds the "word<TAB>count" lines of r to counts. Empty lines are skipped; a
// line without a tab or with a count that is not a non-negative integer is an error
// naming its line number.
func ParseCounts(r io.Reader, counts map[string]int64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" {
			continue
		}
		word, num, ok := strings.Cut(text, "\t")
		if !ok {
			return fmt.Errorf("line %d: no tab in %q", line, text)
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("line %d: bad count %q", line, num)
		}
		counts[word] += n
	}
	return sc.Err()
}

// Top returns the n entries with the highest counts, by count descending, then by word.
func Top(counts map[string]int64, n int) []Entry {
	all := make([]Entry, 0, len(counts))
	for w, c := range counts {
		all = append(all, Entry{w, c})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Count != all[j].Count {
			return all[i].Count > all[j].Count
		}
		return all[i].Word < all[j].Word
	})
	return all[:min(n, len(all))]
}

// WriteTop writes entries as "word<TAB>count" lines.
func WriteTop(w io.Writer, entries []Entry) error {
	for _, e := range entries {
		if _, err := fmt.Fprintf(w, "%s\t%d\n", e.Word, e.Count); err != nil {
			return err
		}
	}
	return nil
}
