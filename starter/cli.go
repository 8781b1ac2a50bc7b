package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/promoflow/promoflow/internal/config"
)

// newFlagSet returns the flag set of a command. It prints nothing itself:
// a parse error is returned (dispatch prints it once, with a hint), and -h
// or --help is returned as a *helpRequest (dispatch prints the command's
// usage on stdout and exits 0).
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// helpRequest is the error of a command asked for -h or --help: it carries
// the command's flag set so that dispatch can list its flags.
type helpRequest struct{ fs *flag.FlagSet }

func (h *helpRequest) Error() string { return "help requested for " + h.fs.Name() }

// Is makes errors.Is(err, flag.ErrHelp) true.
func (h *helpRequest) Is(target error) bool { return target == flag.ErrHelp }

// parseArgs parses fs's flags wherever they stand among args and returns
// the positional arguments in order: `status RUN_ID --json` and `status
// --json RUN_ID` are the same. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, &helpRequest{fs: fs}
			}
			return nil, flagError{cmd: fs.Name(), err: err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseNoArgs parses a command that takes flags only.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected arguments %q", pos)
	}
	return nil
}

// parseWithID parses a command that takes at most one positional ID, with
// its flags before or after it; the ID is "" when none is given.
func parseWithID(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	switch len(pos) {
	case 0:
		return "", nil
	case 1:
		return pos[0], nil
	}
	return "", fmt.Errorf("unexpected arguments %q", pos[1:])
}

// printHelp writes a command's usage and its flags, the command's own
// first, then the connection settings every command shares: synopsis is
// what follows "starter " on the usage line, about says what it does.
func printHelp(w io.Writer, synopsis, about string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: starter %s\n\n%s\n", synopsis, about)
	printFlags(w, fs)
}

// printFlags lists fs's flags: the command's own, then the connection
// settings (config.Config) if fs has them.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	shared := flag.NewFlagSet("", flag.ContinueOnError)
	new(config.Config).Register(shared, func(string) string { return "" })
	own := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	conn := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		to := own
		if shared.Lookup(f.Name) != nil {
			to = conn
		}
		to.Var(f.Value, f.Name, f.Usage)
		to.Lookup(f.Name).DefValue = f.DefValue // not a value parsed before -h
	})
	for _, part := range []struct {
		title string
		fs    *flag.FlagSet
	}{{"flags", own}, {"connection flags (defaults from the environment; see README)", conn}} {
		n := 0
		part.fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", part.title)
		part.fs.SetOutput(w)
		part.fs.PrintDefaults()
	}
}

// flagError is a flag that could not be parsed: an unknown flag or a bad
// value.
type flagError struct {
	cmd string // the flag set's name: the command, or "schedule SUB"
	err error
}

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

// flagHint is what to print under a flag error: how to list the flags;
// "" when err is not a flag error.
func flagHint(err error) string {
	var fe flagError
	if !errors.As(err, &fe) {
		return ""
	}
	return fmt.Sprintf("(starter %s -h lists its flags)", fe.cmd)
}

// printJSON writes v as indented JSON, the form of every --json output.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
