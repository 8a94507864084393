// Command sluice is the one Sluice binary: master, executor, local mode, the file system
// shell and the framework scheduler, as subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"
)

// version is set at link time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// An interrupt cancels the context, so that commands stop and abort their writes.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := newApp().RunContext(ctx, os.Args)
	stop()
	if err != nil {
		os.Exit(exitStatus(os.Stderr, err))
	}
}

// exitStatus prints err on w (unless its message is empty: the command reported already)
// and returns the exit status it carries as a cli.ExitCoder, else 1.
func exitStatus(w io.Writer, err error) int {
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(w, "sluice:", msg)
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

func newApp() *cli.App {
	useLongHelpFlag()
	return &cli.App{
		Name:                 "sluice",
		Usage:                "memory-speed virtual distributed storage with lineage",
		Version:              version,
		EnableBashCompletion: true,
		Flags:                []cli.Flag{configFlag},
		Commands:             withConfig(withEnv(commands())),
		// Errors reach main, which exits with their status; urfave must not exit itself.
		ExitErrHandler: func(*cli.Context, error) {},
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
		fsCommand(),
		jobCommand(),
		lineageCommand(),
		checkpointCommand(),
		reportCommand(),
		masterCommand(),
		executorCommand(),
		localCommand(),
		frameworkCommand(),
		benchCommand(),
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
