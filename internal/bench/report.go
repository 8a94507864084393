package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Units of the rows' values.
const (
	UnitMBps    = "MB/s"
	UnitOpsPerS = "ops/s"
	UnitSeconds = "s"
)

// Target is a row's goal (from the bench issue): a bound on the median of the per-run
// ratios, or on the median of the measured values.
type Target struct {
	// OnRatio applies the bound to the ratio; otherwise to the measured value.
	OnRatio bool `json:"on_ratio"`
	// AtMost makes Value an upper bound; otherwise it is a lower bound.
	AtMost bool `json:"at_most,omitempty"`
	// Value is the bound.
	Value float64 `json:"value"`
}

// String renders the target as "≥ 0.7×" or "≥ 5,000 ops/s".
func (t Target) String(unit string) string {
	op := "≥"
	if t.AtMost {
		op = "≤"
	}
	if t.OnRatio {
		return op + " " + formatRatio(t.Value)
	}
	return op + " " + formatValue(t.Value, unit) + " " + unit
}

// Met reports whether a row whose medians are value and ratio meets the target.
func (t Target) Met(value, ratio float64) bool {
	v := value
	if t.OnRatio {
		v = ratio
	}
	if math.IsNaN(v) {
		return false
	}
	if t.AtMost {
		return v <= t.Value
	}
	return v >= t.Value
}

// Row is one figure of the report: the measured value of each run, the reference
// measured beside it in the same run, and their ratio (measured ÷ reference, per run).
type Row struct {
	// Group is the figure's group ("read", "write", "parallel", "metadata", "lineage").
	Group string `json:"group"`
	// Figure names what was measured.
	Figure string `json:"figure"`
	// Unit is the unit of Measured and Ref.
	Unit string `json:"unit"`
	// Reference names what the figure stands beside; empty for a row without one.
	Reference string `json:"reference,omitempty"`
	// Measured and Ref hold one value per run (Ref is empty without a reference).
	Measured []float64 `json:"measured"`
	Ref      []float64 `json:"ref,omitempty"`
	// Target is the goal for the row, if it names one.
	Target *Target `json:"target,omitempty"`
	// Skipped, when set, says why the row was not measured.
	Skipped string `json:"skipped,omitempty"`
}

// Ratios returns measured ÷ reference for each run that has both.
func (r Row) Ratios() []float64 {
	var out []float64
	for i := range min(len(r.Measured), len(r.Ref)) {
		if r.Ref[i] > 0 {
			out = append(out, r.Measured[i]/r.Ref[i])
		}
	}
	return out
}

// Summary is a row's statistics over its runs. Values without data are NaN (null in
// JSON).
type Summary struct {
	Median, Min, Max float64
	RefMedian        float64
	// Ratio is the median of the per-run ratios; RatioMin and RatioMax their range.
	Ratio, RatioMin, RatioMax float64
	// Pass is set when the row has a target: whether the medians meet it.
	Pass *bool
}

// Summarize computes the row's statistics.
func (r Row) Summarize() Summary {
	s := Summary{Median: Median(r.Measured), RefMedian: Median(r.Ref)}
	s.Min, s.Max = MinMax(r.Measured)
	ratios := r.Ratios()
	s.Ratio = Median(ratios)
	s.RatioMin, s.RatioMax = MinMax(ratios)
	if r.Target != nil && r.Skipped == "" {
		p := r.Target.Met(s.Median, s.Ratio)
		s.Pass = &p
	}
	return s
}

// Report is the outcome of one `sluice bench` run.
type Report struct {
	// Started is when the run began; Took how long it lasted.
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took_ns"`
	// Setup describes the machine and the options, as "key: value" lines in order.
	Setup []KV `json:"setup"`
	// Rows are the figures in the order they were measured.
	Rows []Row `json:"rows"`
	// Notes are remarks for the reader (skipped groups, the MEM tier used).
	Notes []string `json:"notes,omitempty"`
}

// KV is one line of a report's setup.
type KV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// jsonRow is a Row with its summary, as --json prints it.
type jsonRow struct {
	Row
	Ratios    []float64 `json:"ratios,omitempty"`
	Median    *float64  `json:"median"`
	Min       *float64  `json:"min"`
	Max       *float64  `json:"max"`
	RefMedian *float64  `json:"ref_median,omitempty"`
	Ratio     *float64  `json:"ratio,omitempty"`
	Pass      *bool     `json:"pass,omitempty"`
}

// num returns a pointer to x, or nil for NaN (JSON has no NaN).
func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// WriteJSON writes the report as one indented JSON object: the setup, the notes, and
// each row with its per-run values and its summary (median, min, max, ref_median, ratio,
// pass; absent or null where there is no data).
func (rep *Report) WriteJSON(w io.Writer) error {
	out := struct {
		Started time.Time `json:"started"`
		Seconds float64   `json:"seconds"`
		Setup   []KV      `json:"setup"`
		Notes   []string  `json:"notes,omitempty"`
		Rows    []jsonRow `json:"rows"`
	}{Started: rep.Started, Seconds: rep.Took.Seconds(), Setup: rep.Setup, Notes: rep.Notes, Rows: []jsonRow{}}
	for _, r := range rep.Rows {
		s := r.Summarize()
		out.Rows = append(out.Rows, jsonRow{
			Row: r, Ratios: r.Ratios(),
			Median: num(s.Median), Min: num(s.Min), Max: num(s.Max),
			RefMedian: num(s.RefMedian), Ratio: num(s.Ratio), Pass: s.Pass,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// columns are the table's headings.
var columns = []string{"figure", "median", "min–max", "reference", "ref median", "ratio", "target", ""}

// cells returns a row's table cells, in the order of columns.
func (r Row) cells() []string {
	if r.Skipped != "" {
		return []string{r.Figure, "—", "", r.Reference, "", "", targetCell(r), "skipped: " + r.Skipped}
	}
	s := r.Summarize()
	c := []string{
		r.Figure,
		formatValue(s.Median, r.Unit) + " " + r.Unit,
		formatRange(s.Min, s.Max, r.Unit),
		r.Reference, "", "", targetCell(r), "",
	}
	if len(r.Ref) > 0 {
		c[4] = formatValue(s.RefMedian, r.Unit) + " " + r.Unit
		c[5] = formatRatio(s.Ratio)
		if len(r.Ratios()) > 1 {
			c[5] += " (" + formatRatio(s.RatioMin) + "–" + formatRatio(s.RatioMax) + ")"
		}
	}
	if s.Pass != nil {
		c[7] = "miss"
		if *s.Pass {
			c[7] = "pass"
		}
	}
	return c
}

func targetCell(r Row) string {
	if r.Target == nil {
		return ""
	}
	return r.Target.String(r.Unit)
}

// WriteTable writes the report as an aligned text table, one block per group, then the
// notes.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(columns, "\t"))
	group := ""
	for _, r := range rep.Rows {
		if r.Group != group {
			group = r.Group
			fmt.Fprintf(tw, "[%s]\t\t\t\t\t\t\t\n", group)
		}
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeNotes(w, rep.Notes, "note: ")
}

// WriteMarkdown writes the setup as a list, the table as a GitHub Markdown table (the one
// docs/PERFORMANCE.md embeds) and the notes as a list.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	for _, kv := range rep.Setup {
		fmt.Fprintf(&b, "- %s: %s\n", kv.Key, kv.Value)
	}
	b.WriteString("\n| group | " + strings.Join(columns[:len(columns)-1], " | ") + " | result |\n")
	b.WriteString(strings.Repeat("|---", len(columns)+1) + "|\n")
	for _, r := range rep.Rows {
		c := r.cells()
		for i := range c {
			c[i] = strings.ReplaceAll(c[i], "|", `\|`)
		}
		c[0] = "**" + c[0] + "**"
		if r.Skipped == "" && len(r.Ref) > 0 {
			c[5] = "**" + strings.Replace(c[5], " (", "** (", 1)
			if !strings.Contains(c[5], "** (") {
				c[5] += "**"
			}
		}
		b.WriteString("| " + r.Group + " | " + strings.Join(c, " | ") + " |\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(rep.Notes) > 0 {
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	return writeNotes(w, rep.Notes, "- ")
}

func writeNotes(w io.Writer, notes []string, prefix string) error {
	for _, n := range notes {
		if _, err := fmt.Fprintln(w, prefix+n); err != nil {
			return err
		}
	}
	return nil
}

// formatValue renders x for its unit: seconds with 2 decimals (3 below 0.1 s), other
// values as integers with thousands separators, or with 2 decimals below 10.
func formatValue(x float64, unit string) string {
	switch {
	case math.IsNaN(x):
		return "—"
	case unit == UnitSeconds && math.Abs(x) < 0.1:
		return strconv.FormatFloat(x, 'f', 3, 64)
	case unit == UnitSeconds || math.Abs(x) < 10:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	return thousands(int64(math.Round(x)))
}

// formatRange renders lo–hi with the precision formatValue gives hi, so both ends read
// alike.
func formatRange(lo, hi float64, unit string) string {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return "—"
	}
	decimals := -1
	switch {
	case unit == UnitSeconds && math.Abs(hi) < 0.1:
		decimals = 3
	case unit == UnitSeconds || math.Abs(hi) < 10:
		decimals = 2
	}
	if decimals < 0 {
		return thousands(int64(math.Round(lo))) + "–" + thousands(int64(math.Round(hi)))
	}
	return strconv.FormatFloat(lo, 'f', decimals, 64) + "–" + strconv.FormatFloat(hi, 'f', decimals, 64)
}

// formatRatio renders a ratio with 2 decimals (1 from 10 up) and a "×".
func formatRatio(x float64) string {
	switch {
	case math.IsNaN(x):
		return "—"
	case math.Abs(x) >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64) + "×"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "×"
}

// thousands renders n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
