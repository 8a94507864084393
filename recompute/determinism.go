package recompute

import (
	"errors"
	"fmt"
)

// ErrNonDeterministic reports a recomputed output that differs from the original: the
// job is not deterministic, so its lineage cannot promise identical bytes.
var ErrNonDeterministic = errors.New("recompute: non-deterministic output")

// Fingerprint is what the master records of an output when it completes.
type Fingerprint struct {
	// Length is the file's length in bytes.
	Length int64
	// Checksum is an opaque digest of the content; empty when none was recorded. Two
	// fingerprints are compared on it only when both have one.
	Checksum string
}

// String is "1024 bytes" or "1024 bytes, checksum ab12…".
func (f Fingerprint) String() string {
	if f.Checksum == "" {
		return fmt.Sprintf("%d bytes", f.Length)
	}
	return fmt.Sprintf("%d bytes, checksum %s", f.Length, f.Checksum)
}

// NonDeterministicError details a mismatch found by CheckOutput.
type NonDeterministicError struct {
	// Path is the output; JobID the job that rebuilt it.
	Path  string
	JobID uint64
	// Original and Recomputed are the two fingerprints.
	Original, Recomputed Fingerprint
}

// Error names the job, the file and both fingerprints.
func (e *NonDeterministicError) Error() string {
	return fmt.Sprintf("job %d rebuilt %s with %v where the original had %v: %v",
		e.JobID, e.Path, e.Recomputed, e.Original, ErrNonDeterministic)
}

// Unwrap returns ErrNonDeterministic.
func (e *NonDeterministicError) Unwrap() error { return ErrNonDeterministic }

// CheckOutput compares the fingerprint of output path as job jobID rebuilt it with the
// original's. It returns nil when the lengths match and the checksums match or one is
// missing, and a *NonDeterministicError otherwise.
func CheckOutput(path string, jobID uint64, original, recomputed Fingerprint) error {
	same := original.Length == recomputed.Length &&
		(original.Checksum == "" || recomputed.Checksum == "" || original.Checksum == recomputed.Checksum)
	if same {
		return nil
	}
	return &NonDeterministicError{Path: path, JobID: jobID, Original: original, Recomputed: recomputed}
}
