// Package blockstest provides fixtures for tests that use package blocks: valid
// configurations over temporary directories, block metadata and deterministic data.
package blockstest
