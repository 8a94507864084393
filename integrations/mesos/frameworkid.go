package mesos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicedata/sluice/scheduler"
)

// readFrameworkID returns the framework ID kept in path, "" if the file does not exist
// or path is "". A file that exists but holds no ID is an error: it is not ours to
// overwrite.
func readFrameworkID(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %v: %w", path, err, ErrFrameworkIDFile)
	}
	id := strings.TrimSpace(string(b))
	if id == "" || strings.ContainsAny(id, " \t\n/") {
		return "", fmt.Errorf("%s holds no framework id (%q): %w", path, b, ErrFrameworkIDFile)
	}
	return id, nil
}

// writeFrameworkID keeps id in path, replacing the file atomically; "" as path keeps
// nothing. An empty id removes the file.
func writeFrameworkID(path, id string) error {
	if path == "" {
		return nil
	}
	if id == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %v: %w", path, err, ErrFrameworkIDFile)
		}
		return nil
	}
	if err := writeAtomic(path, []byte(id+"\n")); err != nil {
		return fmt.Errorf("%v: %w", err, ErrFrameworkIDFile)
	}
	return nil
}

// writeAtomic writes data to a temporary file beside path, syncs it and renames it over
// path, so that a crash leaves the old or the new content, never a mix.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// keptTask is one launched task as the tasks file keeps it: what a restarted scheduler
// needs to reconcile the task and let the Scheduler adopt it.
type keptTask struct {
	ID         scheduler.TaskID  `json:"id"`
	Name       string            `json:"name"`
	Kind       scheduler.Kind    `json:"kind"`
	AgentID    string            `json:"agent_id"`
	Host       string            `json:"host,omitempty"`
	ExecutorID string            `json:"executor_id,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Ports      map[string]int    `json:"ports,omitempty"`
	Killed     bool              `json:"killed,omitempty"`
}

// keptTasks is the content of the tasks file.
type keptTasks struct {
	FrameworkID string     `json:"framework_id"`
	Tasks       []keptTask `json:"tasks"`
}

// readTasks returns the tasks kept in path for framework id; none if path is "", the
// file does not exist or it belongs to another framework.
func readTasks(path, frameworkID string) ([]keptTask, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %v: %w", path, err, ErrFrameworkIDFile)
	}
	var kt keptTasks
	if err := json.Unmarshal(b, &kt); err != nil {
		return nil, fmt.Errorf("decode %s: %v: %w", path, err, ErrFrameworkIDFile)
	}
	if kt.FrameworkID != frameworkID {
		return nil, nil
	}
	return kt.Tasks, nil
}

// writeTasks keeps tasks in path for framework id, atomically; "" as path keeps nothing.
func writeTasks(path, frameworkID string, tasks []keptTask) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(keptTasks{FrameworkID: frameworkID, Tasks: tasks}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode tasks: %v: %w", err, ErrFrameworkIDFile)
	}
	if err := writeAtomic(path, b); err != nil {
		return fmt.Errorf("%v: %w", err, ErrFrameworkIDFile)
	}
	return nil
}
