package mesos

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	mesosv1 "github.com/mesos/mesos-go/api/v1/lib"
)

func TestTaskInfo(t *testing.T) {
	ports := func(rs ...mesosv1.Value_Range) mesosv1.Resource {
		return mesosv1.Resource{Name: "ports", Type: mesosv1.RANGES.Enum(), Ranges: &mesosv1.Value_Ranges{Range: rs}}
	}
	label := func(v string) *mesosv1.Labels {
		return &mesosv1.Labels{Labels: []mesosv1.Label{{Key: LabelPortNames, Value: &v}}}
	}
	for _, tc := range []struct {
		name    string
		task    mesosv1.TaskInfo
		env     map[string]string
		ports   map[string]int
		wantErr bool
	}{
		{
			name: "no data, no ports",
			env:  map[string]string{"SLUICE_TASK_ID": "t"},
		},
		{
			name:  "ports over two ranges",
			task:  mesosv1.TaskInfo{Resources: []mesosv1.Resource{ports(mesosv1.Value_Range{Begin: 40, End: 40}, mesosv1.Value_Range{Begin: 7, End: 8})}, Labels: label("rpc, http,raft-x")},
			env:   map[string]string{"SLUICE_TASK_ID": "t", "SLUICE_PORT_RPC": "40", "SLUICE_PORT_HTTP": "7", "SLUICE_PORT_RAFT_X": "8"},
			ports: map[string]int{"rpc": 40, "http": 7, "raft-x": 8},
		},
		{
			name: "data wins over ports, not over the task ID",
			task: mesosv1.TaskInfo{
				Resources: []mesosv1.Resource{ports(mesosv1.Value_Range{Begin: 5, End: 5})},
				Labels:    label("rpc"),
				Data:      []byte(`{"env":{"SLUICE_PORT_RPC":"9","SLUICE_TASK_ID":"other","A":"b"}}`),
			},
			env:   map[string]string{"SLUICE_TASK_ID": "t", "SLUICE_PORT_RPC": "9", "A": "b"},
			ports: map[string]int{"rpc": 5},
		},
		{
			name:    "more names than ports",
			task:    mesosv1.TaskInfo{Resources: []mesosv1.Resource{ports(mesosv1.Value_Range{Begin: 5, End: 5})}, Labels: label("rpc,http")},
			wantErr: true,
		},
		{
			name:    "empty port name",
			task:    mesosv1.TaskInfo{Resources: []mesosv1.Resource{ports(mesosv1.Value_Range{Begin: 5, End: 6})}, Labels: label("rpc,,http")},
			wantErr: true,
		},
		{
			name:    "bad data",
			task:    mesosv1.TaskInfo{Data: []byte(`[1]`)},
			wantErr: true,
		},
		{
			name:    "bad variable name",
			task:    mesosv1.TaskInfo{Data: []byte(`{"env":{"A=B":"c"}}`)},
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.task.TaskID = mesosv1.TaskID{Value: "t"}
			ti, err := taskInfo(tc.task, "h")
			if tc.wantErr {
				if !errors.Is(err, ErrBadTaskData) {
					t.Fatalf("taskInfo() error = %v, want ErrBadTaskData", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.env, ti.Env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
			if tc.ports == nil {
				tc.ports = map[string]int{}
			}
			if diff := cmp.Diff(tc.ports, ti.Ports); diff != "" {
				t.Errorf("ports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTaskData_RoundTrip(t *testing.T) {
	in := TaskData{Env: map[string]string{"SLUICE_MASTER": "a:1,b:2", "X": ""}}
	b, err := EncodeTaskData(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeTaskData(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func FuzzDecodeTaskData(f *testing.F) {
	f.Add([]byte(`{"env":{"SLUICE_MASTER":"10.0.0.1:19998"}}`))
	f.Add([]byte(`{"env":{"":"x"}}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeTaskData(b)
		if err != nil {
			if !errors.Is(err, ErrBadTaskData) {
				t.Fatalf("error %v does not wrap ErrBadTaskData", err)
			}
			return
		}
		// What decodes encodes and decodes to the same value.
		b2, err := EncodeTaskData(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := DecodeTaskData(b2)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !cmp.Equal(d, d2, cmpopts.EquateEmpty()) {
			t.Fatalf("round trip changed %v to %v", d, d2)
		}
	})
}
