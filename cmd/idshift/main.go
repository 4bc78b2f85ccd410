// Command idshift moves customer accounts from a legacy identity provider into Microsoft Entra External ID
// without making users reset their passwords. Run "idshift help" for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"syscall"

	"github.com/idshift/idshift/graph"
)

// command is one subcommand. run parses its own flags from args and returns the process exit status it wants
// (0 for success) or an error, which main prints and turns into status 1.
type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) (int, error)
}

// Env is what a subcommand may touch of the process: its streams and environment. Tests run the real program
// in-process through Main with their own Env.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// commands is the explicit registry of subcommands.
func commands() map[string]command {
	return map[string]command{
		"audit":    {"stage 1, read-only: what an import would meet (rejects, merges, stale accounts, data not to store, duration)", runAudit},
		"import":   {"create every legacy user in the External ID tenant, exactly once, resumable", runImport},
		"demo":     {"the whole journey on embedded defaults: import, tenant setup and sign-ins against a local sandbox tenant", runDemo},
		"sandbox":  {"run the local External ID sandbox tenant (Graph subset, token endpoint, sign-in simulator) over HTTPS; signin", runSandbox},
		"hashes":   {"check password/hash pairs and lint the hashes of a source (check | lint)", runHashes},
		"tenant":   {"configure the tenant for password migration at sign-in (setup | check | rotate-key | remove-key)", runTenant},
		"version":  {"print the version, the commit it was built from and the Go version", runVersion},
		"serve":    {"the password-migration service: Entra's OnPasswordSubmit extension and the harvest call", runServe},
		"report":   {"write where the migration stands to files: the status as JSON and a self-contained HTML page with the progress over time", runReport},
		"status":   {"where the migration stands: the tenant's migration flags joined with the state store", runStatus},
		"cutover":  {"end the migration: stop harvesting, export the unmigrated, destroy the legacy secrets (--dry-run first)", runCutover},
		"rollback": {"undo a rehearsal: delete and purge the accounts the import created, confirmed by their legacy id (--dry-run first)", runRollback},
	}
}

func main() {
	env := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	ctx, stop := interruptible(context.Background(), env.Stderr)
	code := Main(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

// exitInterruptedTwice is the status of a process stopped by a second signal (128 + SIGINT, as shells report it).
const exitInterruptedTwice = 130

// interruptible returns a context cancelled by the first SIGINT or SIGTERM: the command stops starting work and
// finishes what it must. A second signal exits at once with status 130. stop releases the signals.
func interruptible(parent context.Context, stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		cancel()
		fmt.Fprintln(stderr, "idshift: stopping: finishing the work in progress (interrupt again to exit at once)")
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "idshift: interrupted again: exiting at once")
			os.Exit(exitInterruptedTwice)
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			cancel()
		})
	}
}

// Main runs the program with args (without the program name) and returns its exit status.
func Main(ctx context.Context, env *Env, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.Stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "idshift: unknown command %q\n\n", args[0])
		usage(env.Stderr, cmds)
		return 2
	}
	code, err := c.run(ctx, env, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		// A token failure says all there is to say in one line; the layers above it only repeat "unauthorized".
		var te *graph.TokenError
		if errors.As(err, &te) {
			err = te
		}
		fmt.Fprintf(env.Stderr, "idshift %s: %v\n", args[0], err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "idshift moves customer accounts from a legacy identity provider into Microsoft Entra External ID.")
	fmt.Fprintln(w, "\nUsage: idshift <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nExamples:")
	fmt.Fprintln(w, "  idshift demo                                   # the whole journey, locally, in a minute")
	fmt.Fprintln(w, "  idshift hashes lint --source users.csv         # can every password hash be used?")
	fmt.Fprintln(w, "  idshift import --config idshift.yaml --dry-run # plan an import without writing")
	fmt.Fprintln(w, "\nRun 'idshift <command> -h' for a command's flags, 'idshift version' for the build.")
}

// runVersion prints the module version, the commit and the Go version the binary was built with.
func runVersion(_ context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "version")
	help{
		usage: "idshift version",
		about: "Prints the module version, the VCS commit (with +dirty when the tree had changes) and the Go version\n" +
			"the binary was built with, as recorded in its build information. Also: idshift --version.",
	}.install(fs)
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if fs.NArg() > 0 {
		return exitUsage, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	bi, ok := debug.ReadBuildInfo()
	fmt.Fprintln(env.Stdout, versionLine(bi, ok))
	return 0, nil
}

// versionLine formats build information: "idshift v1.2.3 (commit 0123abcd4567, 2026-01-02T03:04:05Z, go1.26.0)".
func versionLine(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "idshift (unknown version: built without module information, " + runtime.Version() + ")"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	commit := "commit unknown"
	if rev != "" {
		commit = "commit " + rev[:min(12, len(rev))] + dirty
		if at != "" {
			commit += ", " + at
		}
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return fmt.Sprintf("idshift %s (%s, %s)", version, commit, goVersion)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("idshift "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// help is a command's -h text, as well-kept Go CLIs write it: the synopsis, what the command does, two or three
// examples, then the flags grouped by purpose. A flag in no group is listed under "Other flags", so none is lost.
type help struct {
	usage    string // "idshift import [flags]"
	about    string
	examples []example
	groups   []flagGroup
	footer   string
}

// example is one example command with what it does.
type example struct{ what, command string }

// flagGroup is a titled list of flag names.
type flagGroup struct {
	title string
	flags []string
}

// install makes h the flag set's usage text.
func (h help) install(fs *flag.FlagSet) {
	fs.Usage = func() { h.write(fs.Output(), fs) }
}

func (h help) write(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n", h.usage)
	if h.about != "" {
		fmt.Fprintf(w, "\n%s\n", h.about)
	}
	if len(h.examples) > 0 {
		fmt.Fprintln(w, "\nExamples:")
		for _, e := range h.examples {
			fmt.Fprintf(w, "  # %s\n  %s\n\n", e.what, e.command)
		}
	} else {
		fmt.Fprintln(w)
	}
	listed := map[string]bool{}
	for _, g := range h.groups {
		var fl []*flag.Flag
		for _, name := range g.flags {
			if f := fs.Lookup(name); f != nil && !listed[name] {
				fl = append(fl, f)
				listed[name] = true
			}
		}
		printFlags(w, g.title, fl)
	}
	var rest []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !listed[f.Name] {
			rest = append(rest, f)
		}
	})
	title := "Other flags"
	if len(h.groups) == 0 {
		title = "Flags"
	}
	printFlags(w, title, rest)
	if h.footer != "" {
		fmt.Fprintf(w, "%s\n", h.footer)
	}
}

func printFlags(w io.Writer, title string, fl []*flag.Flag) {
	if len(fl) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, f := range fl {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "0s" && def != "[]" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(w, "%s\n        %s\n", line, usage)
	}
	fmt.Fprintln(w)
}
