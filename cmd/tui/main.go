// Command tui is the Switchboard dashboard for the terminal and, with a
// subcommand, the scriptable client (tui agents, tui run, …).
package main

import (
	"context"
	"fmt"
	"os"

	"switchboard/internal/cli"
)

var version = "0.1.0"

func main() {
	env := cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Version: version}
	args := os.Args[1:]
	if len(args) > 0 {
		if cmd, ok := cli.Commands[args[0]]; ok {
			os.Exit(cmd(context.Background(), env, args[1:]))
		}
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Println("Usage: tui [SUBCOMMAND] [flags]\n\nWithout a subcommand, tui lists the agents.\n\n" + cli.Usage)
			return
		}
		fmt.Fprintf(os.Stderr, "tui: unknown subcommand %q\n\n%s\n", args[0], cli.Usage)
		os.Exit(cli.ExitUsage)
	}
	code := cli.Commands["agents"](context.Background(), env, nil)
	fmt.Println("\nRun a command:  tui run --agent NAME -- CMD [ARGS...]\n\n" + cli.Usage)
	os.Exit(code)
}
