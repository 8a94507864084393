package master

import (
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicedata/sluice/api/sluicepb"
)

//go:embed web/*.html
var webFS embed.FS

// pages are the web UI's templates: one layout and a body per page.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"bytes":   humanBytes,
	"ms":      func(ms int64) string { return msTime(ms) },
	"persist": func(s sluicepb.PersistenceState) string { return strings.TrimPrefix(s.String(), "PERSISTENCE_STATE_") },
	"estate":  func(s sluicepb.ExecutorState) string { return strings.TrimPrefix(s.String(), "EXECUTOR_STATE_") },
	"fstate":  func(s sluicepb.FileState) string { return strings.TrimPrefix(s.String(), "FILE_STATE_") },
	"join":    func(dir, name string) string { return path.Join(dir, name) },
	"parent":  path.Dir,
}).ParseFS(webFS, "web/*.html"))

// httpHandler serves /healthz, /metrics and the web UI.
func (m *Master) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", m.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", m.page("overview", func(*http.Request) (any, error) {
		n, lag := m.persist.stats(time.Now())
		return overview{GetReportResponse: m.report(false, 20), PersistQueue: n, PersistLag: lag.Round(time.Millisecond).String()}, nil
	}))
	mux.HandleFunc("GET /executors", m.page("executors", func(*http.Request) (any, error) {
		return m.blocks.list(true), nil
	}))
	mux.HandleFunc("GET /lost", m.page("lost", func(*http.Request) (any, error) {
		return m.report(false, 10000).GetLostFiles(), nil
	}))
	mux.HandleFunc("GET /browse", m.page("browse", m.browse))
	return mux
}

// handleHealth answers 200 while the servers run, leader or not.
func (m *Master) handleHealth(w http.ResponseWriter, _ *http.Request) {
	if !m.serving.Load() {
		http.Error(w, "not serving", http.StatusServiceUnavailable)
		return
	}
	role := "follower"
	if m.ready.Load() {
		role = "leader"
	}
	fmt.Fprintf(w, "ok %s leader=%s\n", role, m.leaderRPC(m.j.LeaderAddr()))
}

// overview is the data of the overview page: the cluster report and the persist queue.
type overview struct {
	*sluicepb.GetReportResponse
	PersistQueue int
	PersistLag   string
}

// pageData is what every page template receives.
type pageData struct {
	Title  string
	Info   *sluicepb.GetMasterInfoResponse
	Data   any
	Now    string
	Leader bool
}

// page renders template name with the data load returns.
func (m *Master) page(name string, load func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data, err := load(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		pd := pageData{Title: name, Info: m.masterInfo(), Data: data, Now: time.Now().UTC().Format(time.RFC3339),
			Leader: m.ready.Load()}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := pages.ExecuteTemplate(w, name+".html", pd); err != nil {
			m.log.Warn("web page failed", "page", name, "err", err)
		}
	}
}

// browseData is a directory listing for the files browser.
type browseData struct {
	Path  string
	File  *sluicepb.FileInfo
	Files []*sluicepb.FileInfo
}

// browse lists the namespace as known (it never loads UFS metadata: the UI reads only).
func (m *Master) browse(r *http.Request) (any, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		p = "/"
	}
	p, err := cleanPath(p)
	if err != nil {
		return nil, err
	}
	v := m.st.View()
	in, err := v.Get(p)
	if err != nil {
		return nil, err
	}
	bd := browseData{Path: p, File: m.fileInfo(v, in)}
	if in.Directory {
		children, err := v.List(p)
		if err != nil {
			return nil, err
		}
		for _, c := range children {
			bd.Files = append(bd.Files, m.fileInfo(v, c))
		}
	}
	return bd, nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for x := n / unit; x >= unit; x /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func msTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05")
}
