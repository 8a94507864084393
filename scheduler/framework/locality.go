package framework

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicedata/sluice/scheduler"
)

// PreferNodes maps preferred hosts (best first, as the master sends them) to the IDs of
// the nodes whose Host or ID equals one of them (case-insensitively), in the hosts'
// order, each node once: the value of scheduler.Task.PreferNodes. Hosts no node matches
// are skipped.
func PreferNodes(nodes []scheduler.Node, hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if h == "" {
			continue
		}
		for _, n := range nodes {
			if (strings.EqualFold(n.Host, h) || strings.EqualFold(n.ID, h)) && !slices.Contains(out, n.ID) {
				out = append(out, n.ID)
			}
		}
	}
	return out
}

// nodeRefresh bounds how often a nodeHosts asks the backend again for a node it does
// not know.
const nodeRefresh = 2 * time.Second

// nodeHosts caches the backend's node list to map node IDs to host names. Safe for
// concurrent use.
type nodeHosts struct {
	list func(context.Context) ([]scheduler.Node, error)

	// mu guards the fields below.
	mu      sync.Mutex
	byID    map[string]string
	fetched time.Time
}

func newNodeHosts(list func(context.Context) ([]scheduler.Node, error)) *nodeHosts {
	return &nodeHosts{list: list, byID: make(map[string]string)}
}

// host returns the host of node id, asking the backend again (at most every
// nodeRefresh) when it is not known; "" when it stays unknown.
func (n *nodeHosts) host(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	n.mu.Lock()
	h, ok := n.byID[id]
	stale := time.Since(n.fetched) >= nodeRefresh
	n.mu.Unlock()
	if ok || !stale {
		return h
	}
	nodes, err := n.nodes(ctx)
	if err != nil {
		return ""
	}
	for _, nd := range nodes {
		if nd.ID == id {
			return nd.Host
		}
	}
	return ""
}

// nodes lists the backend's nodes and refreshes the cache.
func (n *nodeHosts) nodes(ctx context.Context) ([]scheduler.Node, error) {
	nodes, err := n.list(ctx)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fetched = time.Now()
	clear(n.byID)
	for _, nd := range nodes {
		n.byID[nd.ID] = nd.Host
	}
	return nodes, nil
}
