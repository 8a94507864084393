// Package toolbin finds the external server binaries (MinIO, Nomad) that scripts/tools.sh
// builds from the Go module proxy into a version-keyed cache folder.
//
// Find looks in an environment variable naming the binary, then in the cache folder,
// then on $PATH. The cache folder mirrors SLUICE_CACHE in scripts/tools.sh:
// $SLUICE_CACHE, else $XDG_CACHE_HOME/sluice, else $HOME/.cache/sluice, and a binary
// built for a version sits at <cache>/<name>-<version>/bin/<name>.
//
// Find reads the process environment, which suits test harnesses; FindIn takes the
// environment as a function, for code that must not read it itself.
package toolbin
