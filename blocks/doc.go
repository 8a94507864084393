// Package blocks is the executor's tiered block store: it keeps blocks in ordered tiers
// (MEM, SSD, HDD) of local directories with quotas, checksums them with CRC32C, and
// evicts to make room. It does no network I/O.
package blocks
