package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluicedata/sluice/api/sluicepb"
	"github.com/sluicedata/sluice/client"
)

// reportCommand is `sluice report`: the cluster's capacity and use per tier and executor,
// executors (with the process ID of those on this host), file counts and lost files.
func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "print the cluster report: capacity and use per tier and executor, file counts, lost files",
		Description: "Asks the leader master for the report. Executors on this host (same host name, or a\n" +
			"loopback address) are shown with their process ID. Exits 1 if the cluster cannot be reached.",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "include-lost", Usage: "list LOST executors too"},
			&cli.IntFlag{Name: "max-lost-files", Usage: "list at most `N` lost files (0: the master's default, 1000)"},
			&cli.BoolFlag{Name: "raw", Usage: "print sizes in bytes instead of KiB, MiB …"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON (the GetReportResponse message)"},
		}, clientFlags()...),
		OnUsageError:    onUsageError,
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageExit(c, "report", "takes no arguments")
			}
			if c.Int("max-lost-files") < 0 {
				return usageExit(c, "report", "--max-lost-files must not be negative")
			}
			cl, err := newClient(c.Context, c)
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "report: %s\n", reason(err))
				return cli.Exit("", exitFailure)
			}
			defer cl.Close()
			resp, err := cl.Report(c.Context, client.ReportOptions{
				IncludeLostExecutors: c.Bool("include-lost"), MaxLostFiles: c.Int("max-lost-files"),
			})
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "report: %s\n", reason(err))
				return cli.Exit("", exitFailure)
			}
			if c.Bool("json") {
				b, err := protojson.MarshalOptions{Multiline: true}.Marshal(resp)
				if err == nil {
					_, err = fmt.Fprintf(c.App.Writer, "%s\n", b)
				}
				return err
			}
			host, _ := os.Hostname()
			_, err = io.WriteString(c.App.Writer, reportText(resp, host, !c.Bool("raw")))
			return err
		},
	}
}

// isLocalExecutor reports whether e runs on this host: same host name, or (when it gave
// none) a loopback address.
func isLocalExecutor(e *sluicepb.ExecutorInfo, hostname string) bool {
	if e.GetHost() != "" {
		return e.GetHost() == hostname
	}
	h, _, err := net.SplitHostPort(e.GetRpcAddress())
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

func percent(used, capacity int64) string {
	if capacity <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", float64(used)*100/float64(capacity))
}

func msText(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return timeText(time.UnixMilli(ms))
}

// reportText renders the report for people; human prints sizes in binary units.
func reportText(r *sluicepb.GetReportResponse, hostname string, human bool) string {
	var b strings.Builder
	m := r.GetMaster()
	role := "follower"
	if m.GetIsLeader() {
		role = "leader"
	}
	fmt.Fprintf(&b, "Master:          %s (%s, raft %s, version %s, cluster %s)\n",
		m.GetRpcAddress(), role, m.GetRaftState(), m.GetVersion(), m.GetClusterId())
	if m.GetLeaderAddress() != "" && !m.GetIsLeader() {
		fmt.Fprintf(&b, "Leader:          %s\n", m.GetLeaderAddress())
	}
	fmt.Fprintf(&b, "Capacity:        %s\n", sizeText(r.GetCapacityBytes(), human))
	fmt.Fprintf(&b, "Used:            %s (%s)\n", sizeText(r.GetUsedBytes(), human), percent(r.GetUsedBytes(), r.GetCapacityBytes()))
	fmt.Fprintf(&b, "Executors:       %d live, %d lost\n", r.GetLiveExecutors(), r.GetLostExecutors())
	pc := r.GetPersistence()
	fmt.Fprintf(&b, "Files:           %d (%d not persisted, %d to be persisted, %d persisted, %d lost)\n",
		r.GetFileCount(), pc.GetNotPersisted(), pc.GetToBePersisted(), pc.GetPersisted(), pc.GetLost())
	fmt.Fprintf(&b, "Directories:     %d\n", r.GetDirectoryCount())
	fmt.Fprintf(&b, "Cached blocks:   %d\n", r.GetBlockCount())

	b.WriteString("\nTiers:\n")
	rows := [][]string{{"TIER", "CAPACITY", "USED", "USE", "BLOCKS"}}
	for _, t := range r.GetTiers() {
		rows = append(rows, []string{t.GetAlias(), sizeText(t.GetCapacityBytes(), human), sizeText(t.GetUsedBytes(), human),
			percent(t.GetUsedBytes(), t.GetCapacityBytes()), fmt.Sprint(t.GetBlockCount())})
	}
	_ = writeTable(&b, indent(rows), 2, 3, 4, 5)

	b.WriteString("\nExecutors:\n")
	rows = [][]string{{"ID", "ADDRESS", "HOST", "PID", "STATE", "CAPACITY", "USED", "USE", "BLOCKS", "TIERS", "LAST HEARTBEAT"}}
	for _, e := range r.GetExecutors() {
		pid := "-"
		if isLocalExecutor(e, hostname) && e.GetPid() != 0 {
			pid = fmt.Sprint(e.GetPid())
		}
		var tiers []string
		for _, t := range e.GetTiers() {
			tiers = append(tiers, fmt.Sprintf("%s:%s/%s", t.GetAlias(), sizeText(t.GetUsedBytes(), human), sizeText(t.GetCapacityBytes(), human)))
		}
		rows = append(rows, []string{
			fmt.Sprint(e.GetId()), e.GetRpcAddress(), e.GetHost(), pid,
			strings.TrimPrefix(e.GetState().String(), "EXECUTOR_STATE_"),
			sizeText(e.GetCapacityBytes(), human), sizeText(e.GetUsedBytes(), human), percent(e.GetUsedBytes(), e.GetCapacityBytes()),
			fmt.Sprint(e.GetBlockCount()), strings.Join(tiers, ","), msText(e.GetLastHeartbeatMs()),
		})
	}
	_ = writeTable(&b, indent(rows), 1, 4, 6, 7, 8, 9)

	fmt.Fprintf(&b, "\nLost files: %d\n", pc.GetLost())
	for _, f := range r.GetLostFiles() {
		job := f.GetJobId()
		if job == "" {
			job = "no lineage"
		} else {
			job = "job " + job
		}
		fmt.Fprintf(&b, "  %s (%s, %s)\n", f.GetPath(), sizeText(f.GetLength(), human), job)
	}
	if r.GetLostFilesTruncated() {
		fmt.Fprintf(&b, "  … and %d more\n", pc.GetLost()-int64(len(r.GetLostFiles())))
	}
	return b.String()
}

// indent prefixes a table with an indentation column.
func indent(rows [][]string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = append([]string{""}, r...)
	}
	return out
}
