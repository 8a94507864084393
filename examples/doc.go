// Package examples holds runnable Sluice pipelines and deployment files. Each program lives
// in its own folder; this file only documents the folder.
package examples
