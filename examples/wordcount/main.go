// Command wordcount counts the words of its inputs into one output: a lineage job for
// Sluice, written with the client SDK.
//
// Submitted as a job it reads SLUICE_INPUTS and SLUICE_OUTPUTS:
//
//	sluice job submit --name wc --input /p/text --output /p/counts -- wordcount
//
// Run by hand it takes --input (repeatable; a directory means every file below it) and
// --output instead. Words are the runs of letters and digits, lower-cased; the output
// holds one "word<TAB>count" line per word, sorted by word, so that a rerun — a
// recompute after a loss — writes identical bytes. The output is written MUST_CACHE,
// bound to the job (client.Job.CreateOutput): lineage protects it until it is
// checkpointed.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/examples/internal/jobio"
)

func main() {
	os.Exit(jobio.Main("wordcount", os.Args[1:], nil, run))
}

func run(ctx context.Context, j *client.Job) error {
	out, err := jobio.OneOutput(j.Env)
	if err != nil {
		return err
	}
	if len(j.Env.Inputs) == 0 {
		return fmt.Errorf("no input (--input or SLUICE_INPUTS)")
	}
	counts := map[string]int64{}
	err = jobio.ReadInputs(ctx, j.Client, j.Env.Inputs, func(_ string, r io.Reader) error {
		return CountWords(r, counts)
	})
	if err != nil {
		return err
	}
	return jobio.WriteOutput(ctx, j, out, func(w io.Writer) error { return WriteCounts(w, counts) })
}

// CountWords adds the words of r to counts. A word is a maximal run of letters and
// digits, lower-cased; everything else separates words. Invalid UTF-8 separates too.
func CountWords(r io.Reader, counts map[string]int64) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	sc.Split(scanWords)
	for sc.Scan() {
		counts[strings.ToLower(sc.Text())]++
	}
	return sc.Err()
}

// isWordRune reports whether r belongs to a word.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// scanWords is a bufio.SplitFunc returning runs of word runes; invalid UTF-8 decodes to
// utf8.RuneError, which separates words.
func scanWords(data []byte, atEOF bool) (advance int, token []byte, err error) {
	start := 0
	for start < len(data) {
		if !atEOF && !utf8.FullRune(data[start:]) {
			return start, nil, nil // the start of a rune: ask for more
		}
		r, n := utf8.DecodeRune(data[start:])
		if isWordRune(r) {
			break
		}
		start += n
	}
	for i := start; i < len(data); {
		if !atEOF && !utf8.FullRune(data[i:]) {
			return start, nil, nil
		}
		r, n := utf8.DecodeRune(data[i:])
		if !isWordRune(r) {
			return i + n, data[start:i], nil
		}
		i += n
	}
	if atEOF && len(data) > start {
		return len(data), data[start:], nil
	}
	return start, nil, nil
}

// WriteCounts writes one "word<TAB>count" line per word, sorted by word.
func WriteCounts(w io.Writer, counts map[string]int64) error {
	words := make([]string, 0, len(counts))
	for word := range counts {
		words = append(words, word)
	}
	sort.Strings(words)
	for _, word := range words {
		if _, err := fmt.Fprintf(w, "%s\t%d\n", word, counts[word]); err != nil {
			return err
		}
	}
	return nil
}
