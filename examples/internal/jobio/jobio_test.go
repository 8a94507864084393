package jobio

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
	"github.com/sluicedata/sluice/client/clienttest"
)

func TestEnvironment(t *testing.T) {
	env := client.JobEnvironment{Masters: []string{"m:1"}, JobID: "4", Inputs: []string{"/i"}, Outputs: []string{"/o"}}
	tests := []struct {
		name string
		args []string
		want client.JobEnvironment
	}{
		{"environment only", nil, env},
		{"flags win", []string{"--master", "a:1, b:2", "--input", "/x", "--input", "/y,z", "--output", "/out"},
			client.JobEnvironment{Masters: []string{"a:1", "b:2"}, JobID: "4", Inputs: []string{"/x", "/y,z"}, Outputs: []string{"/out"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			o := Register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, o.Environment(env)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadAndWrite(t *testing.T) {
	c := clienttest.New(t, clienttest.Options{})
	ctx := t.Context()
	j, err := Connect(ctx, client.JobEnvironment{Masters: []string{c.Address()}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for p, data := range map[string]string{"/d/b": "two", "/d/a": "one", "/d/sub/c": "three", "/f": "four"} {
		if err := WriteOutput(ctx, j, p, func(w io.Writer) error { _, err := io.WriteString(w, data); return err }); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err = ReadInputs(ctx, j.Client, []string{"/f", "/d"}, func(p string, r io.Reader) error {
		b, err := io.ReadAll(r)
		got = append(got, p+"="+string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/f=four", "/d/a=one", "/d/b=two", "/d/sub/c=three"}, got); diff != "" {
		t.Errorf("ReadInputs (-want +got):\n%s", diff)
	}
	if err := ReadInputs(ctx, j.Client, []string{"/missing"}, nil); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("ReadInputs of a missing path = %v", err)
	}

	// A failing body aborts the output: nothing COMPLETE is left.
	boom := errors.New("boom")
	err = WriteOutput(ctx, j, "/broken", func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("x", 100))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("WriteOutput with a failing body = %v", err)
	}
	if st, ok := c.FileStatus("/broken"); ok && st.GetState() == sluicepb.FileState_FILE_STATE_COMPLETE {
		t.Errorf("aborted output is COMPLETE: %v", st)
	}
}

func TestOneOutput(t *testing.T) {
	if _, err := OneOutput(client.JobEnvironment{}); err == nil {
		t.Error("OneOutput without outputs succeeded")
	}
	if p, err := OneOutput(client.JobEnvironment{Outputs: []string{"/o"}}); p != "/o" || err != nil {
		t.Errorf("OneOutput = %q, %v", p, err)
	}
}
