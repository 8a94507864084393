package arch

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sluicedata/sluice"

// rules lists, for each package (a path relative to the module; a trailing "/..." covers
// the package and everything below it), the module packages it may depend on, directly
// or not. The most specific rule applies. A package may always depend on packages in its
// own top-level folder (master/journal on master/state, scheduler/local on scheduler),
// except that UFS backends and integrations stay apart from each other (see sameArea).
// This is a statement of policy, in the manner of go/build's deps_test.go.
var rules = []struct {
	pkg   string
	allow []string
}{
	// Leaves: stdlib, their SDKs and generated code only.
	{"api/...", nil},
	{"blocks/...", nil},
	{"lineage/...", nil},
	{"ufs", nil},
	// UFS backends know only the ufs contract; the conformance suite likewise.
	{"ufs/...", []string{"ufs"}},
	{"recompute/...", []string{"lineage"}},
	// The framework scheduler knows nothing of the master.
	{"scheduler/...", []string{"api/...", "lineage"}},
	{"integrations/...", []string{"scheduler/...", "api/...", "client", "lineage"}},
	// The master never imports executor or scheduler internals, nor picks UFS backends.
	{"master/...", []string{"lineage", "recompute", "ufs", "api/..."}},
	{"executor/...", []string{"blocks", "ufs", "api/..."}},
	{"client/...", []string{"api/..."}},
	{"examples/...", []string{"client", "api/..."}},
	// Test harnesses may wire anything but the command. Internal packages stay apart
	// (sameArea), but all may share toolbin, the lookup of scripts/tools.sh's binaries.
	{"internal/...", []string{"internal/toolbin"}},
	{"internal/testcluster/...", []string{"api/...", "blocks/...", "ufs/...", "lineage", "recompute", "scheduler/...", "master/...", "executor/...", "client/...", "internal/miniotest", "internal/toolbin"}},
	// The measurements of `sluice bench` drive a cluster through the client SDK.
	{"internal/bench/...", []string{"api/...", "client/...", "ufs/...", "internal/toolbin"}},
	{"cmd/...", []string{"..."}},
}

func TestImportDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := rel(fields[0])
		allow, ok := rule(pkg)
		if !ok {
			t.Errorf("package %s has no rule in deps_test.go: add one that states where it sits", pkg)
			continue
		}
		checked++
		for _, dep := range fields[1:] {
			if !strings.HasPrefix(dep, module+"/") {
				continue // stdlib or another module
			}
			d := rel(dep)
			if sameArea(pkg, d) || matchesAny(d, allow) {
				continue
			}
			t.Errorf("%s must not depend on %s (DESIGN.md, \"Layout and dependency direction\")", pkg, d)
		}
	}
	if checked == 0 {
		t.Fatal("go list listed no packages")
	}
}

func TestSameArea(t *testing.T) {
	tests := []struct {
		pkg, dep string
		want     bool
	}{
		{"master/journal", "master/state", true},
		{"master", "master/state", true},
		{"scheduler/local", "scheduler", true},
		{"blocks/blockstest", "blocks", true},
		{"ufs/local", "ufs/s3", false},
		{"ufs/s3", "ufs/s3/internal", true},
		{"integrations/nomad", "integrations/mesos", false},
		{"internal/testcluster", "internal/miniotest", false},
		{"master", "executor", false},
	}
	for _, tt := range tests {
		if got := sameArea(tt.pkg, tt.dep); got != tt.want {
			t.Errorf("sameArea(%q, %q) = %v, want %v", tt.pkg, tt.dep, got, tt.want)
		}
	}
}

func TestRule_MostSpecificWins(t *testing.T) {
	tests := []struct {
		pkg, dep string
		want     bool
	}{
		{"ufs/s3", "ufs", true},
		{"ufs", "blocks", false},
		{"master", "executor", false},
		{"master", "ufs", true},
		{"master", "ufs/local", false},
		{"executor", "master", false},
		{"client", "api/sluicepb", true},
		{"client", "master", false},
		{"scheduler", "master", false},
		{"cmd/sluice", "integrations/nomad", true},
		{"internal/testcluster", "master", true},
		{"internal/arch", "master", false},
		{"internal/testcluster", "internal/miniotest", true},
		{"internal/miniotest", "internal/toolbin", true},
		{"internal/nomadtest", "internal/miniotest", false},
		{"internal/toolbin", "internal/miniotest", false},
	}
	for _, tt := range tests {
		t.Run(tt.pkg+"->"+tt.dep, func(t *testing.T) {
			allow, ok := rule(tt.pkg)
			if !ok {
				t.Fatalf("no rule for %s", tt.pkg)
			}
			if got := matchesAny(tt.dep, allow); got != tt.want {
				t.Errorf("allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

// sameArea reports whether dep sits in pkg's own top-level folder and may be used by it.
// Under ufs/ and integrations/ the folders below are separate backends: ufs/local must not
// use ufs/s3 (only the contract in ufs itself), and the Nomad driver must not use Mesos.
func sameArea(pkg, dep string) bool {
	if dep == pkg || strings.HasPrefix(dep, pkg+"/") {
		return true
	}
	top, _, _ := strings.Cut(pkg, "/")
	depTop, _, _ := strings.Cut(dep, "/")
	if top != depTop {
		return false
	}
	switch top {
	case "ufs", "integrations", "internal":
		return false
	}
	return true
}

func rel(importPath string) string {
	if importPath == module {
		return "."
	}
	return strings.TrimPrefix(importPath, module+"/")
}

// rule returns the allow list of the most specific rule covering pkg.
func rule(pkg string) ([]string, bool) {
	best, bestLen, found := []string(nil), -1, false
	for _, r := range rules {
		if match(pkg, r.pkg) && len(r.pkg) > bestLen {
			best, bestLen, found = r.allow, len(r.pkg), true
		}
	}
	return best, found
}

func matchesAny(pkg string, patterns []string) bool {
	for _, p := range patterns {
		if match(pkg, p) {
			return true
		}
	}
	return false
}

func match(pkg, pattern string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}
