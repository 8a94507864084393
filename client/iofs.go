package client

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"path"
)

// WriteFile creates path with opts, writes data and closes the file; on any failure the
// file is aborted.
func (c *Client) WriteFile(ctx context.Context, path string, data []byte, opts CreateOptions) (FileInfo, error) {
	w, err := c.Create(ctx, path, opts)
	if err != nil {
		return FileInfo{}, err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return FileInfo{}, err
	}
	if err := w.Close(); err != nil {
		return FileInfo{}, err
	}
	return w.Info(), nil
}

// ReadFile reads the whole file at path.
func (c *Client) ReadFile(ctx context.Context, path string, opts OpenOptions) ([]byte, error) {
	r, err := c.Open(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := bytes.NewBuffer(make([]byte, 0, r.Size()))
	if _, err := r.WriteTo(buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FS returns a read-only io/fs view of the Sluice namespace, rooted at "/": fs.FS name
// "a/b" is the Sluice path "/a/b" and "." the root. It implements fs.StatFS,
// fs.ReadDirFS and fs.ReadFileFS; files open with ReadDefault and also implement
// io.ReaderAt and io.Seeker. Every call uses ctx, so the view lives as long as ctx.
// Errors are *fs.PathError values wrapping the client's errors, so errors.Is(err,
// fs.ErrNotExist) works.
func (c *Client) FS(ctx context.Context) fs.FS { return &sluiceFS{c: c, ctx: ctx} }

type sluiceFS struct {
	c   *Client
	ctx context.Context
}

var (
	_ fs.StatFS     = (*sluiceFS)(nil)
	_ fs.ReadDirFS  = (*sluiceFS)(nil)
	_ fs.ReadFileFS = (*sluiceFS)(nil)
)

// sluicePath converts a valid fs.FS name to a Sluice path.
func sluicePath(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "/", nil
	}
	return "/" + name, nil
}

// pathErr wraps a client error the io/fs way, keeping it for errors.Is.
func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

func (f *sluiceFS) Open(name string) (fs.File, error) {
	p, err := sluicePath("open", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.c.Stat(f.ctx, p)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if fi.IsDir {
		return &dirFile{fs: f, name: name, path: p, info: fi}, nil
	}
	r, err := f.c.Open(f.ctx, p, OpenOptions{})
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &regularFile{FileReader: r, name: name}, nil
}

func (f *sluiceFS) Stat(name string) (fs.FileInfo, error) {
	p, err := sluicePath("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.c.Stat(f.ctx, p)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return fsEntry(fi, name), nil
}

func (f *sluiceFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := sluicePath("readdir", name)
	if err != nil {
		return nil, err
	}
	fi, err := f.c.Stat(f.ctx, p)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	if !fi.IsDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: ErrNotADirectory}
	}
	list, err := f.c.List(f.ctx, p, ListOptions{})
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	out := make([]fs.DirEntry, len(list))
	for i, child := range list {
		out[i] = fs.FileInfoToDirEntry(fsEntry(child, child.Name))
	}
	return out, nil
}

func (f *sluiceFS) ReadFile(name string) ([]byte, error) {
	p, err := sluicePath("readfile", name)
	if err != nil {
		return nil, err
	}
	data, err := f.c.ReadFile(f.ctx, p, OpenOptions{})
	if err != nil {
		return nil, pathErr("readfile", name, err)
	}
	return data, nil
}

// fsEntry returns fi as an fs.FileInfo named like io/fs wants: the base name, "." for
// the root.
func fsEntry(fi FileInfo, name string) fs.FileInfo {
	fi.Name = path.Base(name)
	return fi.FS()
}

// regularFile is an open file of the io/fs view.
type regularFile struct {
	*FileReader
	name string
}

func (f *regularFile) Stat() (fs.FileInfo, error) { return fsEntry(f.Info(), f.name), nil }

// dirFile is an open directory of the io/fs view; it lists its entries on first ReadDir.
type dirFile struct {
	fs      *sluiceFS
	name    string
	path    string
	info    FileInfo
	entries []fs.DirEntry
	listed  bool
	closed  bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return fsEntry(d.info, d.name), nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: ErrIsADirectory}
}

func (d *dirFile) Close() error {
	if d.closed {
		return &fs.PathError{Op: "close", Path: d.name, Err: fs.ErrClosed}
	}
	d.closed = true
	return nil
}

// ReadDir returns the next n entries as fs.ReadDirFile does.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: fs.ErrClosed}
	}
	if !d.listed {
		entries, err := d.fs.ReadDir(d.name)
		if err != nil {
			return nil, err
		}
		d.entries, d.listed = entries, true
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.entries))
	out := d.entries[:k:k]
	d.entries = d.entries[k:]
	return out, nil
}
