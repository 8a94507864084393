package scheduler_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicedata/sluice/scheduler"
	"github.com/sluicedata/sluice/scheduler/schedulertest"
)

func TestConfig_Validate(t *testing.T) {
	task := func(int) scheduler.Task { return scheduler.Task{Command: []string{"x"}} }
	tests := []struct {
		name   string
		change func(*scheduler.Config)
		ok     bool
	}{
		{"valid", func(c *scheduler.Config) {}, true},
		{"no tasks", func(c *scheduler.Config) { c.Executors, c.Masters = 0, 0 }, true},
		{"no backend", func(c *scheduler.Config) { c.Backend = nil }, false},
		{"negative executors", func(c *scheduler.Config) { c.Executors = -1 }, false},
		{"executors without task", func(c *scheduler.Config) { c.ExecutorTask = nil }, false},
		{"negative masters", func(c *scheduler.Config) { c.Masters = -1 }, false},
		{"masters without task", func(c *scheduler.Config) { c.MasterTask = nil }, false},
		{"zero initial backoff", func(c *scheduler.Config) { c.RelaunchBackoff.Initial = 0 }, false},
		{"max below initial", func(c *scheduler.Config) { c.RelaunchBackoff.Max = time.Millisecond }, false},
		{"negative stable", func(c *scheduler.Config) { c.RelaunchBackoff.StableAfter = -1 }, false},
		{"zero stop timeout", func(c *scheduler.Config) { c.StopTimeout = 0 }, false},
		{"negative history", func(c *scheduler.Config) { c.JobHistory = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := scheduler.DefaultConfig()
			c.Backend = schedulertest.NewFakeBackend(schedulertest.FakeConfig{})
			c.Executors, c.ExecutorTask = 2, task
			c.Masters, c.MasterTask = 1, task
			tt.change(&c)
			err := c.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, scheduler.ErrInvalidConfig)) {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if _, nerr := scheduler.New(c); (nerr == nil) != tt.ok {
				t.Errorf("New() = %v, want ok=%v", nerr, tt.ok)
			}
		})
	}
}

func TestBackoff_Delay(t *testing.T) {
	b := scheduler.DefaultConfig().RelaunchBackoff
	tests := []struct {
		crashes int
		want    time.Duration
	}{
		{-1, 0},
		{0, 0},
		{1, 500 * time.Millisecond},
		{2, time.Second},
		{3, 2 * time.Second},
		{7, 30 * time.Second},
		{100, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := b.Delay(tt.crashes); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.crashes, got, tt.want)
		}
	}
}

func TestTask_ValidateAndClone(t *testing.T) {
	tests := []struct {
		name string
		task scheduler.Task
		ok   bool
	}{
		{"job", scheduler.Task{Kind: scheduler.KindJob, Command: []string{"true"}}, true},
		{"no kind", scheduler.Task{Command: []string{"true"}}, false},
		{"bad kind", scheduler.Task{Kind: "daemon", Command: []string{"true"}}, false},
		{"no command", scheduler.Task{Kind: scheduler.KindExecutor}, false},
		{"empty program", scheduler.Task{Kind: scheduler.KindMaster, Command: []string{""}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.task.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, scheduler.ErrInvalidTask)) {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	orig := scheduler.Task{Command: []string{"a"}, Env: map[string]string{"K": "v"}, Labels: map[string]string{"l": "1"},
		PreferNodes: []string{"n"}, Resources: scheduler.Resources{Ports: []string{"p"}}}
	c := orig.Clone()
	c.Command[0], c.Env["K"], c.Labels["l"], c.PreferNodes[0], c.Resources.Ports[0] = "b", "w", "2", "m", "q"
	if orig.Command[0] != "a" || orig.Env["K"] != "v" || orig.Labels["l"] != "1" || orig.PreferNodes[0] != "n" || orig.Resources.Ports[0] != "p" {
		t.Errorf("Clone shares memory with the original: %+v", orig)
	}
}

func TestState_Terminal(t *testing.T) {
	for s, want := range map[scheduler.State]bool{
		scheduler.StatePending: false, scheduler.StateRunning: false, scheduler.StateFinished: true,
		scheduler.StateFailed: true, scheduler.StateLost: true, scheduler.StateKilled: true,
	} {
		if got := s.Terminal(); got != want {
			t.Errorf("%s.Terminal() = %v, want %v", s, got, want)
		}
	}
}
