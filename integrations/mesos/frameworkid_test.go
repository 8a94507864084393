package mesos

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/scheduler"
)

func TestFrameworkIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "framework-id")
	if id, err := readFrameworkID(path); err != nil || id != "" {
		t.Fatalf("read of a missing file = %q, %v; want empty, nil", id, err)
	}
	if err := writeFrameworkID(path, "fw-0001"); err != nil {
		t.Fatal(err)
	}
	if id, err := readFrameworkID(path); err != nil || id != "fw-0001" {
		t.Fatalf("read after write = %q, %v", id, err)
	}
	if err := writeFrameworkID(path, "fw-0002"); err != nil {
		t.Fatal(err)
	}
	if id, err := readFrameworkID(path); err != nil || id != "fw-0002" {
		t.Fatalf("read after overwrite = %q, %v", id, err)
	}
	// No temporary file is left beside it.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("files beside the framework id: %v", entries)
	}
	if err := writeFrameworkID(path, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writing an empty id left the file: %v", err)
	}
	if err := writeFrameworkID(path, ""); err != nil {
		t.Errorf("removing a missing file: %v", err)
	}

	// Without a path nothing is kept.
	if err := writeFrameworkID("", "x"); err != nil {
		t.Error(err)
	}
	if id, err := readFrameworkID(""); err != nil || id != "" {
		t.Errorf("read without a path = %q, %v", id, err)
	}
}

func TestFrameworkIDFile_Bad(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty": "\n", "spaces": "a b\n"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if id, err := readFrameworkID(path); !errors.Is(err, ErrFrameworkIDFile) {
			t.Errorf("%s: read = %q, %v; want ErrFrameworkIDFile", name, id, err)
		}
	}
	// A directory in the way cannot be written over.
	if err := writeFrameworkID(dir, "fw"); !errors.Is(err, ErrFrameworkIDFile) {
		t.Errorf("write over a directory: %v", err)
	}
}

func TestTasksFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "framework-id.tasks.json")
	tasks := []keptTask{
		{ID: "executor-0.abc", Name: "executor-0", Kind: scheduler.KindExecutor, AgentID: "agent-1", Host: "h1",
			ExecutorID: "executor-0.abc", Labels: map[string]string{scheduler.LabelSlot: "executor-0"},
			Ports: map[string]int{"rpc": 31000}},
		{ID: "job.def", Name: "job", Kind: scheduler.KindJob, AgentID: "agent-2", Killed: true},
	}
	if got, err := readTasks(path, "fw"); err != nil || got != nil {
		t.Fatalf("read of a missing file = %v, %v", got, err)
	}
	if err := writeTasks(path, "fw", tasks); err != nil {
		t.Fatal(err)
	}
	got, err := readTasks(path, "fw")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tasks, got); diff != "" {
		t.Errorf("tasks read back (-want +got):\n%s", diff)
	}
	// Tasks of another framework are not ours.
	if got, err := readTasks(path, "other"); err != nil || got != nil {
		t.Errorf("read for another framework = %v, %v", got, err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readTasks(path, "fw"); !errors.Is(err, ErrFrameworkIDFile) {
		t.Errorf("read of a broken file: %v", err)
	}
}
