package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"switchboard/internal/recording"
)

// export writes a command's recording as an asciicast v2 file.
func export(ctx context.Context, env Env, args []string) int {
	fs, c := newFlags("export", env, "tui export COMMAND_ID [-o FILE] [--input]: write a command's recording, with its timing, "+
		"as an asciicast v2 file (asciinema play and asciinema cat read it). A command still running is written up to where it is.")
	out := fs.String("o", "-", "File to write the recording to; - is standard output.")
	input := fs.Bool("input", false, "Include what was typed into the command (\"i\" events), where its agent records input (agent --record-input).")
	pos, code := parseAround(fs, args)
	if code != nil {
		return *code
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.Stderr, "export: give exactly one command id")
		return ExitUsage
	}
	cl, err := c.dial(ctx, env)
	if err != nil {
		return fail(env, "export: %v", err)
	}
	defer cl.Close()
	cmd, events, err := loadCommand(ctx, cl, pos[0])
	if err != nil {
		return fail(env, "export: %v", err)
	}
	var w io.Writer = env.Stdout
	if *out != "-" {
		// 0600: what a command printed, or what was typed into it, may be private.
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fail(env, "export: %v", err)
		}
		defer f.Close()
		w = f
	}
	tl := recording.TimelineOf(cmd, events)
	aw, err := recording.NewWriter(w, recording.HeaderOf(cmd, tl), tl, *input)
	if err == nil {
		err = readOutput(ctx, cl, cmd.ID, cmd.OutputBytes, aw.Output)
	}
	if err == nil {
		err = aw.Close()
	}
	if f, ok := w.(*os.File); ok && err == nil && f != os.Stdout {
		err = f.Close()
	}
	if err != nil {
		return fail(env, "export: %v", err)
	}
	return 0
}
