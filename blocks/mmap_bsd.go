//go:build unix && !linux

package blocks

// mapPopulate is not available here: pages are mapped on first access.
const mapPopulate = 0
