package journal

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// Raft is chatty: it logs every election and snapshot at Info. The adapter shifts its
// levels down so that a master logging at Info shows raft's warnings and errors only.
const (
	levelRaftTrace = slog.LevelDebug - 8
	levelRaftDebug = slog.LevelDebug - 4
	levelRaftInfo  = slog.LevelDebug
	levelRaftWarn  = slog.LevelInfo
	levelRaftError = slog.LevelError
)

// hclogAdapter routes hclog output (raft's) into a slog.Logger. Raft's Trace, Debug and
// Info land below slog's Debug level or at it, its Warn at Info and its Error at Error.
type hclogAdapter struct {
	logger *slog.Logger
	name   string
	args   []any
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHclog(l *slog.Logger) hclog.Logger { return &hclogAdapter{logger: l} }

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return levelRaftTrace
	case hclog.Debug:
		return levelRaftDebug
	case hclog.Info, hclog.DefaultLevel, hclog.NoLevel:
		return levelRaftInfo
	case hclog.Warn:
		return levelRaftWarn
	default:
		return levelRaftError
	}
}

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	lvl := slogLevel(level)
	ctx := context.Background()
	if !h.logger.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]any, 0, len(h.args)+len(args)+2)
	if h.name != "" {
		attrs = append(attrs, "raft_logger", h.name)
	}
	attrs = append(attrs, h.args...)
	attrs = append(attrs, args...)
	h.logger.Log(ctx, lvl, msg, attrs...)
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) enabled(l hclog.Level) bool {
	return h.logger.Enabled(context.Background(), slogLevel(l))
}

func (h *hclogAdapter) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogAdapter) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogAdapter) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogAdapter) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogAdapter) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogAdapter) ImpliedArgs() []any { return h.args }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), args...)
	return &c
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel does nothing: the slog handler decides what is shown.
func (h *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel returns the most verbose hclog level the slog handler shows.
func (h *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Error
}

func (h *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer whose lines are logged at Info (raft's), or at the
// level a line's "[LEVEL]" prefix names when opts.InferLevels is set.
func (h *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	infer := opts != nil && opts.InferLevels
	return writerFunc(func(p []byte) (int, error) {
		line := strings.TrimRight(string(p), "\n")
		level := hclog.Info
		if infer {
			for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
				tag := "[" + strings.ToUpper(l.String()) + "]"
				if rest, ok := strings.CutPrefix(line, tag); ok {
					level, line = l, strings.TrimSpace(rest)
					break
				}
			}
		}
		h.Log(level, line)
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
