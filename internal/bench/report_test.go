package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sampleReport has a passing and a missing row with targets, a row without a reference,
// an ops/s row, a seconds row and a skipped row.
func sampleReport() *Report {
	return &Report{
		Setup: []KV{{Key: "machine", Value: "2 CPUs"}},
		Rows: []Row{
			{Group: "read", Figure: "short-circuit read", Unit: UnitMBps, Reference: "memcpy",
				Measured: []float64{4000, 5000, 4500}, Ref: []float64{10000, 5000, 6000},
				Target: &Target{OnRatio: true, Value: 0.7}},
			{Group: "read", Figure: "remote read", Unit: UnitMBps, Reference: "tcp",
				Measured: []float64{1500}, Ref: []float64{2000}, Target: &Target{OnRatio: true, Value: 0.6}},
			{Group: "write", Figure: "plain", Unit: UnitMBps, Measured: []float64{7.5, 12.25}},
			{Group: "metadata", Figure: "creates", Unit: UnitOpsPerS, Reference: "stub",
				Measured: []float64{3111.4}, Ref: []float64{10580}, Target: &Target{Value: 5000}},
			{Group: "lineage", Figure: "recovery", Unit: UnitSeconds, Reference: "original",
				Measured: []float64{1.25, 0.05}, Ref: []float64{1, 0.1}},
			{Group: "lineage", Figure: "s3", Unit: UnitMBps, Reference: "GetObject", Skipped: "no MinIO"},
		},
		Notes: []string{"the machine was busy"},
	}
}

func TestRow_Summarize(t *testing.T) {
	rows := sampleReport().Rows
	yes, no := true, false
	tests := []struct {
		row  Row
		want Summary
	}{
		{rows[0], Summary{Median: 4500, Min: 4000, Max: 5000, RefMedian: 6000, Ratio: 0.75, RatioMin: 0.4, RatioMax: 1, Pass: &yes}},
		{rows[1], Summary{Median: 1500, Min: 1500, Max: 1500, RefMedian: 2000, Ratio: 0.75, RatioMin: 0.75, RatioMax: 0.75, Pass: &yes}},
		{rows[3], Summary{Median: 3111.4, Min: 3111.4, Max: 3111.4, RefMedian: 10580, Ratio: 3111.4 / 10580, RatioMin: 3111.4 / 10580, RatioMax: 3111.4 / 10580, Pass: &no}},
	}
	for _, tt := range tests {
		t.Run(tt.row.Figure, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.row.Summarize()); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTarget(t *testing.T) {
	tests := []struct {
		name          string
		t             Target
		unit          string
		value, ratio  float64
		want          bool
		wantFormatted string
	}{
		{"ratio at the bound", Target{OnRatio: true, Value: 0.7}, UnitMBps, 1, 0.7, true, "≥ 0.70×"},
		{"ratio below", Target{OnRatio: true, Value: 0.7}, UnitMBps, 1e9, 0.69, false, "≥ 0.70×"},
		{"value above", Target{Value: 30000}, UnitOpsPerS, 30001, 0, true, "≥ 30,000 ops/s"},
		{"at most", Target{AtMost: true, Value: 2}, UnitSeconds, 1.5, 0, true, "≤ 2.00 s"},
		{"at most, above", Target{AtMost: true, Value: 2}, UnitSeconds, 2.5, 0, false, "≤ 2.00 s"},
		{"ratio ten times", Target{OnRatio: true, Value: 10}, UnitMBps, 0, 9.9, false, "≥ 10.0×"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.t.Met(tt.value, tt.ratio); got != tt.want {
				t.Errorf("Met(%v, %v) = %v, want %v", tt.value, tt.ratio, got, tt.want)
			}
			if got := tt.t.String(tt.unit); got != tt.wantFormatted {
				t.Errorf("String = %q, want %q", got, tt.wantFormatted)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		x    float64
		unit string
		want string
	}{
		{16457.4, UnitMBps, "16,457"},
		{1234567, UnitOpsPerS, "1,234,567"},
		{999, UnitMBps, "999"},
		{7.456, UnitMBps, "7.46"},
		{1.234, UnitSeconds, "1.23"},
		{0.0512, UnitSeconds, "0.051"},
		{120, UnitSeconds, "120.00"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.x, tt.unit); got != tt.want {
			t.Errorf("formatValue(%v, %s) = %q, want %q", tt.x, tt.unit, got, tt.want)
		}
	}
}

func TestReport_WriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// Cells are aligned with spaces: compare each line's fields.
	want := [][]string{
		{"figure", "median", "min–max", "reference", "ref", "median", "ratio", "target"},
		{"[read]"},
		{"short-circuit", "read", "4,500", "MB/s", "4,000–5,000", "memcpy", "6,000", "MB/s", "0.75×", "(0.40×–1.00×)", "≥", "0.70×", "pass"},
		{"remote", "read", "1,500", "MB/s", "1,500–1,500", "tcp", "2,000", "MB/s", "0.75×", "≥", "0.60×", "pass"},
		{"[write]"},
		{"plain", "9.88", "MB/s", "8–12"},
		{"[metadata]"},
		{"creates", "3,111", "ops/s", "3,111–3,111", "stub", "10,580", "ops/s", "0.29×", "≥", "5,000", "ops/s", "miss"},
		{"[lineage]"},
		{"recovery", "0.65", "s", "0.05–1.25", "original", "0.55", "s", "0.88×", "(0.50×–1.25×)"},
		{"s3", "—", "GetObject", "skipped:", "no", "MinIO"},
		{"note:", "the", "machine", "was", "busy"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, l := range lines {
		if diff := cmp.Diff(want[i], strings.Fields(l)); diff != "" {
			t.Errorf("line %d (-want +got):\n%s\ntable:\n%s", i, diff, b.String())
		}
	}
}

func TestReport_WriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	want := `- machine: 2 CPUs

| group | figure | median | min–max | reference | ref median | ratio | target | result |
|---|---|---|---|---|---|---|---|---|
| read | **short-circuit read** | 4,500 MB/s | 4,000–5,000 | memcpy | 6,000 MB/s | **0.75×** (0.40×–1.00×) | ≥ 0.70× | pass |
| read | **remote read** | 1,500 MB/s | 1,500–1,500 | tcp | 2,000 MB/s | **0.75×** | ≥ 0.60× | pass |
| write | **plain** | 9.88 MB/s | 8–12 |  |  |  |  |  |
| metadata | **creates** | 3,111 ops/s | 3,111–3,111 | stub | 10,580 ops/s | **0.29×** | ≥ 5,000 ops/s | miss |
| lineage | **recovery** | 0.65 s | 0.05–1.25 | original | 0.55 s | **0.88×** (0.50×–1.25×) |  |  |
| lineage | **s3** | — |  | GetObject |  |  |  | skipped: no MinIO |

- the machine was busy
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("markdown (-want +got):\n%s", diff)
	}
}

func TestReport_WriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Setup []KV     `json:"setup"`
		Notes []string `json:"notes"`
		Rows  []struct {
			Group, Figure, Unit, Reference, Skipped string
			Measured, Ref, Ratios                   []float64
			Median, Min, Max, RefMedian, Ratio      *float64
			Pass                                    *bool
			Target                                  *Target
		} `json:"rows"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	if len(got.Rows) != 6 || len(got.Setup) != 1 || len(got.Notes) != 1 {
		t.Fatalf("rows %d, setup %d, notes %d; want 6, 1, 1:\n%s", len(got.Rows), len(got.Setup), len(got.Notes), b.String())
	}
	sc := got.Rows[0]
	if sc.Median == nil || *sc.Median != 4500 || sc.Ratio == nil || *sc.Ratio != 0.75 || sc.Pass == nil || !*sc.Pass {
		t.Errorf("short-circuit row: median %v ratio %v pass %v; want 4500, 0.75, true", sc.Median, sc.Ratio, sc.Pass)
	}
	if diff := cmp.Diff([]float64{0.4, 1, 0.75}, sc.Ratios); diff != "" {
		t.Errorf("ratios (-want +got):\n%s", diff)
	}
	if sc.Target == nil || !sc.Target.OnRatio || sc.Target.Value != 0.7 {
		t.Errorf("target = %+v, want a ratio of 0.7", sc.Target)
	}
	plain := got.Rows[2]
	if plain.Ratio != nil || plain.RefMedian != nil || plain.Pass != nil {
		t.Errorf("a row without reference has ratio %v, ref median %v, pass %v; want none", plain.Ratio, plain.RefMedian, plain.Pass)
	}
	skipped := got.Rows[5]
	if skipped.Skipped != "no MinIO" || skipped.Median != nil {
		t.Errorf("skipped row: skipped %q, median %v; want the reason and no median", skipped.Skipped, skipped.Median)
	}
}
