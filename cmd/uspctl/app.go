package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
)

// app is one run of uspctl: its streams, environment and settings.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	s          settings
	log        *slog.Logger
	configFile string // the configuration file read, if any

	// newBinding makes the transport from the settings; tests replace it.
	newBinding func(a *app) (binding, error)
	// terminal reports whether w is a terminal, for the progress bar.
	terminal func(w io.Writer) bool
	// onReady, when set, is called once listen or agents is connected and
	// waiting: tests use it to know when to make agents talk.
	onReady func()

	outMu sync.Mutex // serialises writes to stdout from concurrent work
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{
		stdin:      stdin,
		stdout:     stdout,
		stderr:     stderr,
		getenv:     getenv,
		log:        slog.New(slog.DiscardHandler),
		newBinding: newBinding,
		terminal:   isTerminal,
	}
}

// run executes one command line and returns the exit code.
func (a *app) run(ctx context.Context, args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Errors cobra found itself: unknown commands, flags or arguments.
		ee = &exitError{code: exitUsage, err: err}
	}
	if !ee.quiet {
		fmt.Fprintf(a.stderr, "uspctl: %v\n", ee.err)
		if ee.code == exitUsage {
			fmt.Fprintln(a.stderr, "Run 'uspctl --help' for usage.")
		}
	}
	return ee.code
}

const rootLong = `uspctl talks to USP agents (Broadband Forum TR-369) from the shell: it reads and
changes their data model, runs commands, lists their supported data model and
prints their notifications, over MQTT, STOMP, WebSocket or Unix domain sockets.
decode reads captured USP Records and encode builds them, offline; send sends
one from a file and prints the answer.

Settings come from flags, then environment variables (USPCTL_ and the flag name
in upper case with - as _, e.g. USPCTL_MTP, USPCTL_BROKER, USPCTL_AGENT_TOPIC;
repeatable flags take comma-separated lists), then the configuration file
(--config, USPCTL_CONFIG, or $XDG_CONFIG_HOME/uspctl/config.json if it exists: a
JSON object keyed by flag names, e.g. {"mtp": "mqtt", "broker":
"tcp://10.0.0.1:1883", "agent-topic": "/usp/agent/{id}", "timeout": "10s"}),
then the built-in defaults.

Common flags have mosquitto_pub/sub-like short forms: -b broker, -a agent,
-c controller-id, -t topic, -T agent-topic, -u username, -P password, -q qos,
-W timeout, -o output, -v verbose. An agent answers only a controller it
knows: give its endpoint ID with -c and, for an MQTT 3.1.1 agent, the topic it
sends to with -t. "uspctl completion bash|zsh|fish|powershell" writes a shell
completion script.

Text output is aligned columns; -o json prints one JSON object per agent (an
array with --agents or several --agent flags), shaped as
{"agent", "exit_code", "error", "result"}; each command's help describes its
result.

` + exitCodesHelp

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "uspctl",
		Short:         "A command-line USP controller",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return &exitError{code: exitUsage, quiet: true}
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.setup(cmd) },
	}
	// cobra's "completion" command writes the bash, zsh, fish and
	// PowerShell scripts; the flags with a fixed set of values complete them.
	a.s.addFlags(root.PersistentFlags())
	completeValues(root, "mtp", "mqtt", "stomp", "websocket", "uds")
	completeValues(root, flagOutput, outputText, outputJSON)
	root.AddCommand(a.encodeCommand(), a.sendCommand())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(
		a.getCommand(), a.setCommand(), a.addCommand(), a.deleteCommand(), a.operateCommand(),
		a.gsdmCommand(), a.instancesCommand(), a.protoCommand(), a.listenCommand(), a.agentsCommand(),
		a.decodeCommand(), a.conformCommand(),
	)
	return root
}

// completeValues makes the shell complete a root flag with a fixed list.
func completeValues(root *cobra.Command, flag string, values ...string) {
	_ = root.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// setup completes the settings from the environment and the configuration
// file, checks them and prepares logging.
func (a *app) setup(cmd *cobra.Command) error {
	file, err := applyDefaults(cmd.Root().PersistentFlags(), a.getenv)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	a.configFile = file
	switch a.s.output {
	case outputText, outputJSON:
	default:
		return usageErrorf("-o must be text or json, not %q", a.s.output)
	}
	if a.s.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	if a.s.parallel <= 0 {
		return usageErrorf("--parallel must be at least 1")
	}
	level := slog.LevelError
	switch {
	case a.s.verbose >= 2:
		level = slog.LevelDebug
	case a.s.verbose == 1:
		level = slog.LevelInfo
	}
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	if file != "" {
		a.log.Debug("configuration file read", "file", file)
	}
	return nil
}

func (a *app) ready() {
	if a.onReady != nil {
		a.onReady()
	}
}

func (a *app) jsonOutput() bool { return a.s.output == outputJSON }

// writeJSON writes v as indented JSON on stdout.
func (a *app) writeJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	_, err = a.stdout.Write(append(b, '\n'))
	return err
}

// writeLine writes one JSON value on one line (for streams of values).
func (a *app) writeJSONLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	a.outMu.Lock()
	defer a.outMu.Unlock()
	_, err = a.stdout.Write(append(b, '\n'))
	return err
}

func (a *app) writeText(s string) {
	a.outMu.Lock()
	defer a.outMu.Unlock()
	io.WriteString(a.stdout, s)
}

// errorf prints a diagnostic on stderr.
func (a *app) errorf(format string, args ...any) {
	fmt.Fprintf(a.stderr, "uspctl: "+format+"\n", args...)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}

// codeErr turns an exit code into the error RunE returns; the output has
// been written already.
func codeErr(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code, quiet: true}
}
