// Command gentext writes deterministic pseudo-random text to its one output: the first
// stage of the example pipeline (gentext → wordcount → topn).
//
//	sluice job submit --name gen --output /p/text -- gentext --size 16 --seed 1
//
// The text is --size MiB (exactly; the last line is padded with spaces) of lines of
// words drawn with a Zipf distribution from a vocabulary of --vocab made-up words, so that
// some words are frequent and a top-N list is interesting. The same size, seed and
// vocabulary always give the same bytes, which is what lets Sluice recompute a lost
// output and get it back identical. The output is written MUST_CACHE, bound to the job.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/examples/internal/jobio"
)

func main() {
	var size float64
	var seed uint64
	var vocab int
	os.Exit(jobio.Main("gentext", os.Args[1:], func(fs *flag.FlagSet) {
		fs.Float64Var(&size, "size", 16, "output size in `MiB`")
		fs.Uint64Var(&seed, "seed", 1, "random `seed`")
		fs.IntVar(&vocab, "vocab", 5000, "number of distinct `words`")
	}, func(ctx context.Context, j *client.Job) error {
		out, err := jobio.OneOutput(j.Env)
		if err != nil {
			return err
		}
		if size < 0 || vocab < 1 {
			return errors.New("--size must not be negative and --vocab must be at least 1")
		}
		n := int64(size * (1 << 20))
		return jobio.WriteOutput(ctx, j, out, func(w io.Writer) error { return Generate(w, n, seed, vocab) })
	}))
}

// lineWords is the number of words per line.
const lineWords = 12

// Generate writes exactly size bytes of text made of vocab distinct words drawn from a
// Zipf distribution seeded with seed. Lines end with "\n"; when the next word would not
// fit, the rest of the text is spaces and a final newline. It is deterministic: the same
// arguments give the same bytes.
func Generate(w io.Writer, size int64, seed uint64, vocab int) error {
	if size < 0 || vocab < 1 {
		return fmt.Errorf("gentext: size %d, vocabulary %d", size, vocab)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	words := Vocabulary(r, vocab)
	zipf := rand.NewZipf(r, 1.1, 1, uint64(vocab-1))
	buf := make([]byte, 0, 64<<10)
	var written int64
	flush := func() error {
		n, err := w.Write(buf)
		written += int64(n)
		buf = buf[:0]
		return err
	}
	for col := 0; ; col++ {
		word := words[zipf.Uint64()]
		// Room for the word, its separator, and the final newline.
		if written+int64(len(buf)+len(word)+1) > size-1 {
			break
		}
		buf = append(buf, word...)
		if col%lineWords == lineWords-1 {
			buf = append(buf, '\n')
		} else {
			buf = append(buf, ' ')
		}
		if len(buf) >= 60<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	for written+int64(len(buf)) < size-1 {
		buf = append(buf, ' ')
		if len(buf) >= 60<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if written+int64(len(buf)) < size {
		buf = append(buf, '\n')
	}
	return flush()
}

// syllables make up the vocabulary's words.
var syllables = []string{
	"ka", "lo", "mi", "nu", "ra", "se", "ti", "vo", "ze", "pa", "do", "gi", "be", "fu", "ha", "jo",
	"qui", "ster", "lin", "mor", "tak", "wen", "yl", "ox",
}

// Vocabulary returns n distinct made-up words of two to four syllables drawn from r.
func Vocabulary(r *rand.Rand, n int) []string {
	seen := make(map[string]bool, n)
	words := make([]string, 0, n)
	for len(words) < n {
		k := 2 + r.IntN(3)
		var w []byte
		for range k {
			w = append(w, syllables[r.IntN(len(syllables))]...)
		}
		// Beyond what the syllables can spell, a number keeps the words distinct.
		if len(seen) > 100000 {
			w = fmt.Appendf(w, "%d", len(words))
		}
		if s := string(w); !seen[s] {
			seen[s] = true
			words = append(words, s)
		}
	}
	return words
}
