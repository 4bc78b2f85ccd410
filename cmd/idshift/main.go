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
	"sort"
	"syscall"
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
		"import":  {"create every legacy user in the External ID tenant, exactly once, resumable", runImport},
		"demo":    {"the whole journey on embedded defaults: a local sandbox tenant, a SQLite state file, the example users", runDemo},
		"sandbox": {"run the local External ID sandbox tenant (Graph subset and token endpoint) over HTTPS", runSandbox},
		"hashes":  {"check password/hash pairs and lint the hashes of a source (check | lint)", runHashes},
		"tenant":  {"configure the tenant for password migration at sign-in (setup | check | rotate-key | remove-key)", runTenant},
		"serve":   {"the password-migration service: Entra's OnPasswordSubmit extension and the harvest call", runServe},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := Main(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
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
	fmt.Fprintln(w, "\nRun 'idshift <command> -h' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("idshift "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}
