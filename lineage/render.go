package lineage

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Text renders the view as an indented tree for a terminal:
//
//	/p/counts
//	produced by job 2 "wordcount" [completed, ran 1.5s]
//	ancestors:
//	└── job 1 "gen" [completed, ran 3s] writes /p/text
//	descendants:
//	└── job 3 "topn" [running] reads /p/counts
//
// A job expanded earlier in the same tree is printed once more with "(see above)" and no
// subtree; a subtree cut by the depth bound ends with "…".
func (v View) Text() string {
	var b strings.Builder
	if v.Path != "" {
		b.WriteString(v.Path + "\n")
		if v.Job != nil {
			fmt.Fprintf(&b, "produced by %s\n", jobLine(*v.Job))
		} else {
			b.WriteString("no lineage (not produced by a recorded job)\n")
		}
	} else if v.Job != nil {
		fmt.Fprintf(&b, "%s\n", jobLine(*v.Job))
		fmt.Fprintf(&b, "  outputs: %s\n", strings.Join(v.Job.Outputs, " "))
	}
	writeTrees(&b, "ancestors", "writes", v.Ancestors)
	writeTrees(&b, "descendants", "reads", v.Descendants)
	return b.String()
}

// jobLine is `job 2 "wordcount" [completed, ran 1.5s]`.
func jobLine(j Job) string {
	if j.RunTime > 0 {
		return fmt.Sprintf("%s [%v, ran %v]", j.Label(), j.State, j.RunTime.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s [%v]", j.Label(), j.State)
}

func writeTrees(b *strings.Builder, title, verb string, roots []*Node) {
	if len(roots) == 0 {
		fmt.Fprintf(b, "%s: none\n", title)
		return
	}
	b.WriteString(title + ":\n")
	writeLevel(b, "", verb, roots)
}

func writeLevel(b *strings.Builder, indent, verb string, nodes []*Node) {
	for i, n := range nodes {
		branch, more := "├── ", "│   "
		if i == len(nodes)-1 {
			branch, more = "└── ", "    "
		}
		b.WriteString(indent + branch + jobLine(n.Job))
		if len(n.Via) > 0 {
			b.WriteString(" " + verb + " " + strings.Join(n.Via, " "))
		}
		if n.Repeated {
			b.WriteString(" (see above)")
		}
		b.WriteString("\n")
		writeLevel(b, indent+more, verb, n.Children)
		if n.Truncated {
			b.WriteString(indent + more + "└── …\n")
		}
	}
}

// Dot renders the view as a Graphviz digraph: jobs are boxes, files ellipses, edges run
// job → file (writes) and file → job (reads), and the focus file or job is filled. The
// output is deterministic: nodes and edges are sorted.
func (v View) Dot() string {
	d := dotGraph{nodes: map[string]string{}, edges: map[[2]string]bool{}}
	if v.Path != "" {
		d.file(v.Path, true)
	}
	if v.Job != nil {
		d.job(*v.Job, v.Path == "")
		if v.Path != "" {
			d.edge(jobKey(v.Job.ID), fileKey(v.Path))
		} else {
			for _, out := range v.Job.Outputs {
				d.file(out, false)
				d.edge(jobKey(v.Job.ID), fileKey(out))
			}
		}
	}
	focusID := uint64(0)
	if v.Job != nil {
		focusID = v.Job.ID
	}
	d.walk(focusID, v.Ancestors, true)
	d.walk(focusID, v.Descendants, false)
	return d.String()
}

// walk adds the jobs of a tree below job above (0: none) with their linking files. In an
// ancestor tree (up) a node writes its Via files, which the node above reads; in a
// descendant tree the node above (or the focus) writes them and the node reads them.
func (d *dotGraph) walk(above uint64, nodes []*Node, up bool) {
	for _, n := range nodes {
		d.job(n.Job, false)
		writer, reader := n.Job.ID, above
		if !up {
			writer, reader = above, n.Job.ID
		}
		for _, f := range n.Via {
			d.file(f, false)
			if writer != 0 {
				d.edge(jobKey(writer), fileKey(f))
			}
			if reader != 0 {
				d.edge(fileKey(f), jobKey(reader))
			}
		}
		d.walk(n.Job.ID, n.Children, up)
	}
}

// dotGraph collects nodes and edges before printing them sorted.
type dotGraph struct {
	nodes map[string]string // key → attributes
	edges map[[2]string]bool
}

func jobKey(id uint64) string { return fmt.Sprintf("job:%d", id) }
func fileKey(p string) string { return "file:" + p }

func (d *dotGraph) job(j Job, focus bool) {
	label := fmt.Sprintf("%s\n%v", j.Label(), j.State)
	attrs := "shape=box, label=" + dotQuote(label)
	if focus {
		attrs += ", style=filled, fillcolor=lightblue"
	}
	if _, ok := d.nodes[jobKey(j.ID)]; !ok || focus {
		d.nodes[jobKey(j.ID)] = attrs
	}
}

func (d *dotGraph) file(p string, focus bool) {
	attrs := "shape=ellipse, label=" + dotQuote(p)
	if focus {
		attrs += ", style=filled, fillcolor=lightblue"
	}
	if _, ok := d.nodes[fileKey(p)]; !ok || focus {
		d.nodes[fileKey(p)] = attrs
	}
}

func (d *dotGraph) edge(from, to string) { d.edges[[2]string{from, to}] = true }

func (d *dotGraph) String() string {
	var b strings.Builder
	b.WriteString("digraph lineage {\n  rankdir=LR;\n")
	keys := make([]string, 0, len(d.nodes))
	for k := range d.nodes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s [%s];\n", dotQuote(k), d.nodes[k])
	}
	edges := make([][2]string, 0, len(d.edges))
	for e := range d.edges {
		edges = append(edges, e)
	}
	slices.SortFunc(edges, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	for _, e := range edges {
		fmt.Fprintf(&b, "  %s -> %s;\n", dotQuote(e[0]), dotQuote(e[1]))
	}
	b.WriteString("}\n")
	return b.String()
}

// dotQuote makes a DOT double-quoted string: backslashes and quotes escaped, newlines
// as the \n escape Graphviz centres lines with.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "")
	return `"` + r.Replace(s) + `"`
}
