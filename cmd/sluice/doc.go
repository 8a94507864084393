// The sluice command wires every component: it reads flags, SLUICE_* environment and
// sluice.yaml, picks UFS schemes and scheduler backends, and builds each component's
// Config. Libraries never read flags or the environment; only this package does.
package main
