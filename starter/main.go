// Command starter is promoflow's command line: it generates demo data,
// starts regenerations and schedules, and reports their progress. The
// commands and their synopses are listed by `starter -h` (the commands
// table below); `starter <command> -h` lists a command's flags, which may
// come before or after its positional arguments.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/promoflow/promoflow/internal/buildinfo"
)

// command is one of the starter's commands.
type command struct {
	name     string
	synopsis string // the usage line after "starter "
	about    string // one line: what it does
	run      func(context.Context, []string, io.Writer, io.Writer) error
}

// commands lists the starter's commands in the order usage shows them.
func commands() []command {
	return []command{
		{"generate", "generate --users N --seed S --out PATH [--json]", "write a synthetic canonical events file (gzip CSV)", generate},
		{"compress", "compress --in PATH --out PATH.gz [--jsonl]", "rewrite a CSV or JSON Lines file (plain or gzip) as block gzip, which ingest splits without inflating it first", compressCmd},
		{"run", "run --template weekly --input PATH_OR_S3_URL [--wait] [--json]", "start a campaign regeneration (uploads a local input first)", runCmd},
		{"status", "status RUN_ID [--json] [--watch [--every 1s]]", "print the stage progress of a run", status},
		{"approve", "approve RUN_ID --by NAME [--comment TEXT] [--json]", "approve a run's plan waiting for review", approveCmd},
		{"reject", "reject RUN_ID --by NAME --reason TEXT [--json]", "reject a run's plan waiting for review", rejectCmd},
		{"setup", "setup", "create the bucket and register search attributes (idempotent)", setup},
		{"uplift", "uplift --history FILE --arm-col COL --control VALUE --outcome-col COL [--wait] [--json]", "analyse a campaign history: per-offer effects, learners, policy at budgets", upliftCmd},
		{"history", "history --users N --seed S --out PATH [--json]", "write a synthetic campaign history with planted offer effects (CSV)", historyCmd},
		{"schedule", "schedule <create|update|list|describe|pause|resume|trigger|backfill|delete> [flags] [ID]", "create, update, list, describe, pause, resume, trigger, backfill, delete schedules", scheduleCmd},
		{"outcomes", "outcomes --campaign C --input FILE[,FILE] [--mapping M] [--json]", "upload a campaign's outcome events and tell its evaluation they are in", outcomesCmd},
		{"report", "report --template T [--json]", "write a template's overview page (reports/<template>/index.html) and print its path", reportCmd},
		{"simulate", "simulate --weeks N --users N --seed S [--json]", "run the closed loop for N simulated weeks and print plan, oracle and baseline profit", simulateCmd},
		{"live", "live <start|decide|stop|status|bench> [flags]", "live campaigns: event-triggered decisions within a paced budget", liveCmd},
		{"codec-server", "codec-server [--listen ADDR] [--cors-origin URL]", "decode encrypted payloads for the Temporal UI and CLI", codecServer},
		{"version", "version", "print the starter's version and commit (also --version)", nil},
	}
}

// usage is the starter's usage: its commands and what each does.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: starter <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-13s %s\n", c.name, c.about)
	}
	b.WriteString("\n\"starter <command> -h\" (or \"starter help <command>\") shows a command's usage and flags.\n")
	return b.String()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the command in args and returns the exit code: 0 on
// success or when help was asked for, 1 when the command failed, 2 when
// there is no such command.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return dispatch(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage())
		return 0
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, "starter", buildinfo.String())
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] && c.run != nil {
			cmd = &c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", args[0], usage())
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var help *helpRequest
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		if cmd.name == "schedule" {
			fmt.Fprint(stdout, scheduleUsage)
			printFlags(stdout, help.fs)
			return 0
		}
		if cmd.name == "live" {
			fmt.Fprint(stdout, liveUsage)
			printFlags(stdout, help.fs)
			return 0
		}
		printHelp(stdout, cmd.synopsis, cmd.about, help.fs)
		return 0
	}
	fmt.Fprintf(stderr, "starter %s: %v\n", args[0], err)
	if hint := flagHint(err); hint != "" {
		fmt.Fprintln(stderr, hint)
	}
	return 1
}
