// Command starter is promoflow's command line: it generates demo data,
// starts regenerations and reports their progress.
//
//	starter generate --users N --seed S --out PATH
//	starter run --template weekly --input PATH_OR_S3_URL [--wait] [--json]
//	starter status RUN_ID
//	starter approve RUN_ID --by NAME [--comment TEXT]
//	starter reject RUN_ID --by NAME --reason TEXT
//	starter uplift --history FILE --arm-col COL --control VALUE --outcome-col COL [--wait] [--json]
//	starter history --users N --seed S --out PATH
//	starter schedule create --template weekly --every 168h | --cron "..." [--timezone TZ] [run's campaign flags]
//	starter schedule update ID [the flags of create]
//	starter schedule list | describe ID | pause ID | resume ID | trigger ID | backfill ID | delete ID
//	starter outcomes --campaign C --input FILE[,FILE] [--mapping M] [--json]
//	starter simulate --weeks N --users N --seed S [--json]
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: starter <command> [flags]

commands:
  generate   write a synthetic canonical events file (gzip CSV)
  run        start a campaign regeneration (uploads a local input first)
  status     print the stage progress of a run
  approve    approve a run's plan waiting for review: approve RUN_ID --by NAME [--comment TEXT]
  reject     reject a run's plan waiting for review: reject RUN_ID --by NAME --reason TEXT
  setup      create the bucket and register search attributes (idempotent)
  uplift     analyse a campaign history: per-offer effects, learners, policy at budgets
  history    write a synthetic campaign history with planted offer effects (CSV)
  schedule   create, update, list, describe, pause, resume, trigger, backfill, delete schedules
  outcomes   upload a campaign's outcome events and tell its evaluation they are in
  simulate   run the closed loop for N simulated weeks and print plan, oracle and baseline profit
  codec-server  decode encrypted payloads for the Temporal UI

"starter <command> -h" lists a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch runs the command in args and returns the exit code.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	commands := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"generate":     generate,
		"run":          runCmd,
		"status":       status,
		"approve":      approveCmd,
		"reject":       rejectCmd,
		"codec-server": codecServer,
		"setup":        setup,
		"uplift":       upliftCmd,
		"history":      historyCmd,
		"schedule":     scheduleCmd,
		"outcomes":     outcomesCmd,
		"simulate":     simulateCmd,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "starter: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := cmd(ctx, args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "starter %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
