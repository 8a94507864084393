package scheduler_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

func TestApplySettings(t *testing.T) {
	errInvalid := errors.New("test: invalid config")
	type config struct {
		Name  string
		Wait  time.Duration
		Debug bool
	}
	tests := []struct {
		name     string
		settings map[string]string
		want     config
		wantErr  string // a substring of the error; empty for none
	}{
		{name: "none", want: config{Name: "default", Wait: time.Second}},
		{name: "all", settings: map[string]string{"name": "x", "wait": "5s", "debug": "true"}, want: config{Name: "x", Wait: 5 * time.Second, Debug: true}},
		{name: "empty string", settings: map[string]string{"name": ""}, want: config{Wait: time.Second}},
		{name: "unknown key", settings: map[string]string{"name": "x", "nmae": "y"}, wantErr: `unknown setting "nmae"`},
		{name: "bad value", settings: map[string]string{"wait": "5"}, wantErr: `setting wait="5": time: missing unit`},
		// Keys are applied in sorted order, so the first bad one is always the same.
		{name: "first bad key in order", settings: map[string]string{"wait": "x", "debug": "maybe"}, wantErr: `setting debug="maybe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config{Name: "default", Wait: time.Second}
			err := scheduler.ApplySettings(tt.settings, map[string]func(string) error{
				"name":  scheduler.SetString(&cfg.Name),
				"wait":  scheduler.SetParsed(&cfg.Wait, time.ParseDuration),
				"debug": scheduler.SetParsed(&cfg.Debug, strconv.ParseBool),
			}, errInvalid)
			if tt.wantErr != "" {
				if !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ApplySettings() = %v, want an error wrapping %v containing %q", err, errInvalid, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ApplySettings() = %v", err)
			}
			if cfg != tt.want {
				t.Errorf("config = %+v, want %+v", cfg, tt.want)
			}
		})
	}
}

func TestSetParsed_KeepsValueOnError(t *testing.T) {
	d := time.Second
	if err := scheduler.SetParsed(&d, time.ParseDuration)("soon"); err == nil {
		t.Fatal("SetParsed(\"soon\") = nil, want the parse error")
	}
	if d != time.Second {
		t.Errorf("value = %v after a failed parse, want 1s", d)
	}
}
