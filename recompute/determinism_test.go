package recompute

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheckOutput(t *testing.T) {
	for _, tc := range []struct {
		name       string
		orig, re   Fingerprint
		wantErr    bool
		wantString string
	}{
		{name: "same length, no checksums", orig: Fingerprint{Length: 10}, re: Fingerprint{Length: 10}},
		{name: "same length and checksum", orig: Fingerprint{10, "ab"}, re: Fingerprint{10, "ab"}},
		{name: "checksum only on one side", orig: Fingerprint{10, "ab"}, re: Fingerprint{Length: 10}},
		{name: "length differs", orig: Fingerprint{Length: 10}, re: Fingerprint{Length: 11}, wantErr: true,
			wantString: "job 7 rebuilt /out with 11 bytes where the original had 10 bytes: recompute: non-deterministic output"},
		{name: "checksum differs", orig: Fingerprint{10, "ab"}, re: Fingerprint{10, "cd"}, wantErr: true,
			wantString: "job 7 rebuilt /out with 10 bytes, checksum cd where the original had 10 bytes, checksum ab: recompute: non-deterministic output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOutput("/out", 7, tc.orig, tc.re)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CheckOutput = %v", err)
			}
			if err == nil {
				return
			}
			var nd *NonDeterministicError
			if !errors.Is(err, ErrNonDeterministic) || !errors.As(err, &nd) || nd.Path != "/out" || nd.JobID != 7 {
				t.Errorf("error %#v", err)
			}
			if err.Error() != tc.wantString {
				t.Errorf("Error() = %q, want %q", err, tc.wantString)
			}
		})
	}
}
