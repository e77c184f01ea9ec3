// Command provisioner is the Polkadot provisioner's command-line tool.
//
// Its subcommands inspect the wire types the parachains inherent carries
// (decode, hash, verify) and derive keys (key inspect); see `provisioner
// help`. Every subcommand lives in its own file and is one entry of the
// commands table below, so adding one (such as `node`) touches nothing else.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/polkadot-provisioner/provisioner/cmd/internal/buildinfo"
)

// Exit statuses. Scripts can tell "called wrongly" (2) from "the input or
// the signature is bad" (1).
const (
	exitOK    = 0
	exitData  = 1
	exitUsage = 2
)

// env is what a subcommand may use of the process: it never touches os.Std*
// directly, so tests run it in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand. run returns nil on success, errHelp when help
// was asked for, a *usageError when it was called wrongly, and any other
// error for bad input; the dispatcher turns that into the exit status and
// the single line on stderr, so no subcommand can print two error lines.
type command struct {
	name     string
	synopsis string // one line for the overview
	usage    string // full text for `provisioner help NAME` and `NAME -h`
	run      func(e *env, args []string) error
}

// commands is the subcommand table, in the order the overview lists them.
// It is filled in init because the help text it feeds refers back to it.
var commands []command

func init() {
	commands = []command{
		{name: "decode", synopsis: "decode a hex-encoded value and print it as JSON", usage: decodeUsage(), run: runDecode},
		{name: "hash", synopsis: "print the blake2-256 hash of a hex-encoded value", usage: hashUsage(), run: runHash},
		{name: "verify", synopsis: "check the signature of a signed availability bitfield", usage: verifyUsage, run: runVerify},
		{name: "key", synopsis: "derive the public key of a Substrate secret URI; generate and inspect node keys", usage: keyUsage, run: runKey},
		{name: "build-spec", synopsis: "write a testnet chain spec and print its genesis hash", usage: buildSpecUsage, run: runBuildSpec},
		{name: "node", synopsis: "run a testnet validator node (gossip, provisioner, inherent protocol, metrics)", usage: nodeUsage, run: runNode},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errHelp: the user asked for a subcommand's help text.
var errHelp = errors.New("help requested")

// usageError is a command line that cannot be carried out as written.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run executes the command line args (without the program name) and returns
// the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return report(stderr, "provisioner", usagef("missing command (commands: %s; see provisioner help)", commandNames()))
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return runHelp(args[1:], stdout, stderr)
	case "--version", "-version", "-V":
		fmt.Fprintln(stdout, buildinfo.Line("provisioner"))
		return exitOK
	}
	cmd := lookupCommand(args[0])
	if cmd == nil {
		return report(stderr, "provisioner", usagef("unknown command %q (commands: %s; see provisioner help)", args[0], commandNames()))
	}
	if wantsVersion(args[1:]) {
		fmt.Fprintln(stdout, buildinfo.Line("provisioner"))
		return exitOK
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	err := safeRun(cmd, e, args[1:])
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, cmd.usage)
		return exitOK
	}
	return report(stderr, "provisioner "+cmd.name, err)
}

// safeRun runs a subcommand and turns a panic into an error. The decoders
// are meant never to panic on any input (fuzzing checks that); this is the
// last line of defence so that even a bug gives the promised single line on
// stderr instead of a stack trace.
func safeRun(cmd *command, e *env, args []string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v (this is a bug; please report it with the input)", p)
		}
	}()
	return cmd.run(e, args)
}

// report writes err as exactly one line prefixed with who, and returns the
// exit status for it.
func report(stderr io.Writer, who string, err error) int {
	if err == nil {
		return exitOK
	}
	// Error texts may quote input (file names, characters); keep them on one
	// line whatever they contain.
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintf(stderr, "%s: %s\n", who, msg)
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitData
}

// wantsVersion: --version anywhere among a subcommand's flags (before a
// "--"), as `polkadot <subcommand> --version` answers.
func wantsVersion(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--version", "-version", "-V":
			return true
		}
	}
	return false
}

func lookupCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func runHelp(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		fmt.Fprint(stdout, overview())
		return exitOK
	case 1:
		if cmd := lookupCommand(args[0]); cmd != nil {
			fmt.Fprint(stdout, cmd.usage)
			return exitOK
		}
		return report(stderr, "provisioner help", usagef("unknown command %q (commands: %s)", args[0], commandNames()))
	}
	return report(stderr, "provisioner help", usagef("takes at most one command name, got %d arguments", len(args)))
}

func overview() string {
	var b strings.Builder
	b.WriteString("provisioner: tools for Polkadot's parachains inherent and its wire types.\n\n")
	b.WriteString("Usage:\n  provisioner COMMAND [ARGUMENTS]\n  provisioner help [COMMAND]\n  provisioner --version\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.synopsis)
	}
	b.WriteString("\nTypes (decode takes every one; 'provisioner help hash' lists the hashable ones):\n")
	b.WriteString(typeList(nil))
	b.WriteString(exitStatusText)
	b.WriteString("\nRun 'provisioner help COMMAND' for the details of one command.\n")
	return b.String()
}

const exitStatusText = `
Exit status: 0 success; 1 bad or unreadable input, a re-encoding that differs
from the input, or an invalid signature; 2 a usage error. Every failure
prints exactly one line on stderr.
`
