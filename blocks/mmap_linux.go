package blocks

import "syscall"

// mapPopulate makes mmap build the page tables at once.
const mapPopulate = syscall.MAP_POPULATE
