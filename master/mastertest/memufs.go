package mastertest

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicedata/sluice/ufs"
)

// MemFS is an in-memory ufs.FS: directories are implicit in file paths or explicit from
// Mkdir. Safe for concurrent use. Options given at open time are recorded, not checked.
type MemFS struct {
	// mu guards files and dirs.
	mu    sync.Mutex
	files map[string][]byte
	dirs  map[string]bool
	mtime time.Time
}

var _ ufs.FS = (*MemFS)(nil)

// NewMemFS returns an empty MemFS holding only its root.
func NewMemFS() *MemFS {
	return &MemFS{files: make(map[string][]byte), dirs: map[string]bool{"/": true}, mtime: time.Unix(1_700_000_000, 0)}
}

// Registry returns a ufs.Registry whose scheme "mem" opens the MemFS of the URI's host
// (mem://name), creating it on first use; fss receives them. A URI path selects a
// sub-tree, which must exist.
func Registry(fss *Stores) ufs.Registry {
	return ufs.Registry{"mem": func(_ context.Context, u *url.URL, _ map[string]string) (ufs.FS, error) {
		m := fss.Get(u.Host)
		p := u.Path
		if p == "" || p == "/" {
			return m, nil
		}
		fi, err := m.Stat(context.Background(), p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir {
			return nil, &fs.PathError{Op: "open", Path: p, Err: ufs.ErrNotDir}
		}
		return &subFS{m: m, root: path.Clean(p)}, nil
	}}
}

// Stores holds the MemFS of each name.
type Stores struct {
	mu  sync.Mutex
	fss map[string]*MemFS
}

// Get returns the MemFS called name, creating it if needed.
func (s *Stores) Get(name string) *MemFS {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fss == nil {
		s.fss = make(map[string]*MemFS)
	}
	m := s.fss[name]
	if m == nil {
		m = NewMemFS()
		s.fss[name] = m
	}
	return m
}

func clean(name string) (string, error) { return ufs.CleanPath(name) }

// prologue checks ctx and cleans name for operation op.
func prologue(ctx context.Context, op, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	p, err := clean(name)
	if err != nil {
		return "", &fs.PathError{Op: op, Path: name, Err: err}
	}
	return p, nil
}

// fileAbove returns an ancestor of p that is a file ("" if none). m.mu is held.
func (m *MemFS) fileAbove(p string) string {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if _, ok := m.files[d]; ok {
			return d
		}
	}
	return ""
}

// Put stores a file (creating its parents).
func (m *MemFS) Put(name string, data []byte) {
	p, _ := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[p] = bytes.Clone(data)
	for d := path.Dir(p); ; d = path.Dir(d) {
		m.dirs[d] = true
		if d == "/" {
			break
		}
	}
}

// Data returns a file's bytes.
func (m *MemFS) Data(name string) ([]byte, bool) {
	p, _ := clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.files[p]
	return bytes.Clone(d), ok
}

// Open implements ufs.FS.
func (m *MemFS) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := clean(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if off < 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	d, ok := m.Data(p)
	if !ok {
		if fi, err := m.Stat(ctx, p); err == nil && fi.IsDir {
			return nil, &fs.PathError{Op: "open", Path: name, Err: ufs.ErrIsDir}
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	off = min(off, int64(len(d)))
	end := int64(len(d))
	if length >= 0 {
		end = min(end, off+length)
	}
	return io.NopCloser(bytes.NewReader(d[off:end])), nil
}

type memWriter struct {
	m    *MemFS
	ctx  context.Context
	name string
	buf  bytes.Buffer
	done bool
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, ufs.ErrAborted
	}
	return w.buf.Write(p)
}

func (w *memWriter) Close() error {
	if w.done {
		return ufs.ErrAborted
	}
	w.done = true
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.m.Put(w.name, w.buf.Bytes())
	return nil
}

func (w *memWriter) Abort() error { w.done = true; return nil }

// Create implements ufs.FS.
func (m *MemFS) Create(ctx context.Context, name string) (ufs.Writer, error) {
	p, err := clean(name)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	isDir, parentFile := m.dirs[p], m.fileAbove(p)
	m.mu.Unlock()
	switch {
	case isDir:
		return nil, &fs.PathError{Op: "create", Path: name, Err: ufs.ErrIsDir}
	case parentFile != "":
		return nil, &fs.PathError{Op: "create", Path: name, Err: ufs.ErrNotDir}
	}
	return &memWriter{m: m, name: p, ctx: ctx}, nil
}

// Stat implements ufs.FS.
func (m *MemFS) Stat(ctx context.Context, name string) (ufs.FileInfo, error) {
	p, err := prologue(ctx, "stat", name)
	if err != nil {
		return ufs.FileInfo{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.files[p]; ok {
		return ufs.FileInfo{Path: p, Size: int64(len(d)), ModTime: m.mtime}, nil
	}
	if m.dirs[p] {
		return ufs.FileInfo{Path: p, IsDir: true, ModTime: m.mtime}, nil
	}
	return ufs.FileInfo{}, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

// List implements ufs.FS.
func (m *MemFS) List(ctx context.Context, name string) ([]ufs.FileInfo, error) {
	p, err := prologue(ctx, "list", name)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[p]; ok {
		return nil, &fs.PathError{Op: "list", Path: name, Err: ufs.ErrNotDir}
	}
	if !m.dirs[p] {
		return nil, &fs.PathError{Op: "list", Path: name, Err: fs.ErrNotExist}
	}
	var out []ufs.FileInfo
	for f, d := range m.files {
		if path.Dir(f) == p {
			out = append(out, ufs.FileInfo{Path: f, Size: int64(len(d)), ModTime: m.mtime})
		}
	}
	for d := range m.dirs {
		if d != "/" && path.Dir(d) == p {
			out = append(out, ufs.FileInfo{Path: d, IsDir: true, ModTime: m.mtime})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Delete implements ufs.FS.
func (m *MemFS) Delete(ctx context.Context, name string) error {
	p, err := prologue(ctx, "delete", name)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[p]; ok {
		delete(m.files, p)
		return nil
	}
	if !m.dirs[p] {
		return &fs.PathError{Op: "delete", Path: name, Err: fs.ErrNotExist}
	}
	for k := range m.files {
		if strings.HasPrefix(k, p+"/") {
			return &fs.PathError{Op: "delete", Path: name, Err: ufs.ErrNotEmpty}
		}
	}
	for k := range m.dirs {
		if strings.HasPrefix(k, p+"/") {
			return &fs.PathError{Op: "delete", Path: name, Err: ufs.ErrNotEmpty}
		}
	}
	delete(m.dirs, p)
	return nil
}

// Rename implements ufs.FS.
func (m *MemFS) Rename(ctx context.Context, src, dst string) error {
	s, err := prologue(ctx, "rename", src)
	if err != nil {
		return err
	}
	d, err := prologue(ctx, "rename", dst)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, dstFile := m.files[d]
	switch {
	case dstFile || m.dirs[d]:
		return &fs.PathError{Op: "rename", Path: dst, Err: fs.ErrExist}
	case m.fileAbove(d) != "":
		return &fs.PathError{Op: "rename", Path: dst, Err: ufs.ErrNotDir}
	case s == "/" || strings.HasPrefix(d, s+"/"):
		return &fs.PathError{Op: "rename", Path: dst, Err: fs.ErrInvalid}
	}
	if data, ok := m.files[s]; ok {
		delete(m.files, s)
		m.files[d] = data
	} else if m.dirs[s] {
		for k, v := range m.files {
			if strings.HasPrefix(k, s+"/") {
				delete(m.files, k)
				m.files[d+k[len(s):]] = v
			}
		}
		for k := range m.dirs {
			if k == s || strings.HasPrefix(k, s+"/") {
				delete(m.dirs, k)
				m.dirs[d+k[len(s):]] = true
			}
		}
	} else {
		return &fs.PathError{Op: "rename", Path: src, Err: fs.ErrNotExist}
	}
	for p := path.Dir(d); ; p = path.Dir(p) {
		m.dirs[p] = true
		if p == "/" {
			break
		}
	}
	return nil
}

// Mkdir implements ufs.FS.
func (m *MemFS) Mkdir(ctx context.Context, name string) error {
	p, err := prologue(ctx, "mkdir", name)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.files[p]; ok {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	if m.fileAbove(p) != "" {
		return &fs.PathError{Op: "mkdir", Path: name, Err: ufs.ErrNotDir}
	}
	for d := p; ; d = path.Dir(d) {
		m.dirs[d] = true
		if d == "/" {
			break
		}
	}
	return nil
}

// subFS is a MemFS seen from one of its directories.
type subFS struct {
	m    *MemFS
	root string
}

func (s *subFS) abs(name string) string {
	p, err := clean(name)
	if err != nil {
		return name // the MemFS reports the error
	}
	return path.Join(s.root, p)
}

func (s *subFS) rel(fi ufs.FileInfo) ufs.FileInfo {
	fi.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(fi.Path, s.root), "/")
	return fi
}

func (s *subFS) Open(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	return s.m.Open(ctx, s.abs(name), off, n)
}
func (s *subFS) Create(ctx context.Context, name string) (ufs.Writer, error) {
	return s.m.Create(ctx, s.abs(name))
}
func (s *subFS) Stat(ctx context.Context, name string) (ufs.FileInfo, error) {
	fi, err := s.m.Stat(ctx, s.abs(name))
	return s.rel(fi), err
}
func (s *subFS) List(ctx context.Context, name string) ([]ufs.FileInfo, error) {
	l, err := s.m.List(ctx, s.abs(name))
	for i := range l {
		l[i] = s.rel(l[i])
	}
	return l, err
}
func (s *subFS) Delete(ctx context.Context, name string) error { return s.m.Delete(ctx, s.abs(name)) }
func (s *subFS) Rename(ctx context.Context, a, b string) error {
	return s.m.Rename(ctx, s.abs(a), s.abs(b))
}
func (s *subFS) Mkdir(ctx context.Context, name string) error { return s.m.Mkdir(ctx, s.abs(name)) }
