// Command sluice is the one Sluice binary: master, executor, local mode, the file system
// shell and the framework scheduler, as subcommands.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at link time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:                 "sluice",
		Usage:                "memory-speed virtual distributed storage with lineage",
		Version:              version,
		EnableBashCompletion: true,
		Flags:                []cli.Flag{configFlag},
		Commands:             withConfig(withEnv(commands())),
	}
}

// commands lists every command group; each lives in a file of its own.
func commands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "version",
			Usage: "print the version of this binary",
			Action: func(c *cli.Context) error {
				_, err := fmt.Fprintln(c.App.Writer, "sluice", version)
				return err
			},
		},
		configCommand(),
	}
}

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "inspect configuration keys",
		Subcommands: []*cli.Command{{
			Name:  "keys",
			Usage: "list every configuration key, its SLUICE_* variable and its meaning",
			Action: func(c *cli.Context) error {
				for _, k := range configKeys(c.App.Commands, "") {
					if _, err := fmt.Fprintln(c.App.Writer, k); err != nil {
						return err
					}
				}
				return nil
			},
		}},
	}
}
