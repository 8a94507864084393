package main

import "github.com/urfave/cli/v2"

// frameworkCommand groups the framework schedulers: one subcommand per cluster manager
// (`sluice framework nomad …`, `sluice framework mesos …`). Each lives in a file of its
// own (framework_<backend>.go) and is listed here.
func frameworkCommand() *cli.Command {
	return &cli.Command{
		Name:  "framework",
		Usage: "deploy Sluice on a cluster manager and run its jobs there",
		Description: "The framework scheduler launches Sluice masters and executors on a cluster\n" +
			"manager, relaunches them when they are lost, and runs lineage jobs and recomputes\n" +
			"as tasks of that cluster manager.",
		Subcommands: []*cli.Command{
			frameworkNomadCommand(),
			frameworkMesosCommand(),
		},
	}
}
