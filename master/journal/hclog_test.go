package journal

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHclogAdapter(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		log   func(hclog.Logger)
		want  string // "" for nothing
	}{
		{"info hidden at info", slog.LevelInfo, func(l hclog.Logger) { l.Info("entering leader state") }, ""},
		{"info shown at debug", slog.LevelDebug, func(l hclog.Logger) { l.Info("entering leader state", "term", 2) },
			"level=DEBUG msg=\"entering leader state\" term=2"},
		{"warn at info", slog.LevelInfo, func(l hclog.Logger) { l.Warn("heartbeat timeout") }, "level=INFO msg=\"heartbeat timeout\""},
		{"error", slog.LevelError, func(l hclog.Logger) { l.Error("failed", "error", "x") }, "level=ERROR msg=failed error=x"},
		{"trace hidden at debug", slog.LevelDebug, func(l hclog.Logger) { l.Trace("t") }, ""},
		{"named with args", slog.LevelInfo, func(l hclog.Logger) { l.Named("raft").Named("net").With("peer", "a").Warn("w") },
			"level=INFO msg=w raft_logger=raft.net peer=a"},
		{"reset name", slog.LevelInfo, func(l hclog.Logger) { l.Named("raft").ResetNamed("x").Warn("w") }, "raft_logger=x"},
		{"standard writer infers", slog.LevelInfo, func(l hclog.Logger) {
			l.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}).Print("[ERROR] boom")
		}, "level=ERROR msg=boom"},
		{"off", slog.LevelDebug - 8, func(l hclog.Logger) { l.Log(hclog.Off, "x") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}})
			tt.log(newHclog(slog.New(h)))
			got := strings.TrimSpace(buf.String())
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
		})
	}
	l := newHclog(slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if l.IsInfo() || !l.IsWarn() || !l.IsError() || l.GetLevel() != hclog.Warn {
		t.Errorf("levels at slog Info: info %v warn %v level %v", l.IsInfo(), l.IsWarn(), l.GetLevel())
	}
}
