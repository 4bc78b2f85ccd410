package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/pwhash"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/file"
)

const hashesUsage = `Usage:
  idshift hashes check [-f FILE] [flags]    verify password/hash pairs read as JSON Lines
  idshift hashes lint --source FILE [flags] check every hash of a source file

Examples:
  # Which formats does the export hold, and can every hash be used?
  idshift hashes lint --source users.csv

  # Does this known password match its imported hash?
  echo '{"hash":"$2b$10$…","password":"correct horse"}' | idshift hashes check

Run 'idshift hashes check -h' or 'idshift hashes lint -h' for the flags.`

// hashFormatFlags and hashCapFlags group the hash flags every command that reads hashes shares.
var (
	hashFormatFlags = []string{"hash-format", "password-encoding", "scrypt-ln-is-n", "salt-position", "salt-encoding",
		"hash-encoding", "digest-separator", "hmac-key", "hmac-key-encoding", "firebase-signer-key",
		"firebase-salt-separator", "firebase-rounds", "firebase-mem-cost"}
	hashCapFlags = []string{"max-bcrypt-cost", "max-scrypt-n", "max-scrypt-r", "max-scrypt-p", "max-scrypt-nr",
		"max-argon-memory", "max-argon-time", "max-argon-threads", "max-pbkdf2-iterations", "max-sha-crypt-rounds",
		"max-des-crypt-rounds", "max-phpass-log2"}
)

var hashesCheckHelp = help{
	usage: "idshift hashes check [-f FILE] [flags]",
	about: `Reads JSON Lines from FILE (default standard input), one pair a line:
  {"hash": "<hash string or a Keycloak/Auth0/Okta/Firebase JSON object>", "password": "…",
   "encoding": "latin1", "format": "sha256-salted", "firebase": {"signerKey","saltSeparator","rounds","memCost"},
   "scryptLnIsN": true, "digest": {"saltPosition","saltEncoding","hashEncoding","separator","key","keyEncoding"}}
(all but hash and password are optional and override the flags for that line). Writes one line per
input line, in the same order: {"match":true}, {"match":false} or {"error":"<reason>"}; blank lines are skipped.
Exit status: 0 when every line was decided (match or no match), 1 when any line gave an error, 2 bad flags.`,
	examples: []example{
		{"check the pairs of a file, four at a time", "idshift hashes check -f pairs.jsonl --workers 4"},
		{"bare SHA-256 digests with a salt after the password", "idshift hashes check -f pairs.jsonl --hash-format sha256-salted --salt-position after"},
		{"an Ory Kratos export, whose $scrypt$ln= is N itself", "idshift hashes check -f kratos.jsonl --scrypt-ln-is-n"},
	},
	groups: []flagGroup{
		{"Input", []string{"f", "workers"}},
		{"Hashes", hashFormatFlags},
		{"Cost caps (a hash above a cap is refused, not verified)", hashCapFlags},
	},
}

var hashesLintHelp = help{
	usage: "idshift hashes lint --source FILE [flags]",
	about: `Reads every user of a source file as the import would and normalises its password hash: counts per format, users
without a hash, unreadable rows, malformed hashes, hashes over the cost caps, unknown and unsupported formats, with
the first line numbers of each. Exit status: 0 when every row was read and every hash can be used, 1 otherwise,
2 bad flags.`,
	examples: []example{
		{"the formats of a CSV export with the default schema", "idshift hashes lint --source users.csv"},
		{"a JSON Lines export described by a mapping, as JSON", "idshift hashes lint --source users.jsonl --mapping mapping.yaml --json"},
		{"bare MD5 digests, which cannot be detected", "idshift hashes lint --source users.csv --hash-format md5"},
	},
	groups: []flagGroup{
		{"Source", []string{"source", "source-kind", "source-passwords", "source-dsn", "source-query", "format", "mapping"}},
		{"Report", []string{"json", "max-lines"}},
		{"Hashes", hashFormatFlags},
		{"Cost caps (a hash above a cap is refused, not verified)", hashCapFlags},
	},
}

func runHashes(ctx context.Context, env *Env, args []string) (int, error) {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, hashesUsage)
		return 2, nil
	}
	switch args[0] {
	case "check":
		return runHashesCheck(ctx, env, args[1:])
	case "lint":
		return runHashesLint(ctx, env, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(env.Stdout, hashesUsage)
		return 0, nil
	}
	fmt.Fprintf(env.Stderr, "idshift hashes: unknown subcommand %q\n\n%s\n", args[0], hashesUsage)
	return 2, nil
}

// ---- check ----

// checkLine is one input line of `hashes check`.
type checkLine struct {
	Hash        json.RawMessage        `json:"hash"`
	Password    *string                `json:"password"`
	Encoding    string                 `json:"encoding"`
	Format      string                 `json:"format"`
	Firebase    *pwhash.FirebaseParams `json:"firebase"`
	ScryptLnIsN *bool                  `json:"scryptLnIsN"`
	Digest      *checkDigest           `json:"digest"`
}

// checkDigest describes a bare digest for one line (the --salt-position etc. flags).
type checkDigest struct {
	SaltPosition string `json:"saltPosition"`
	SaltEncoding string `json:"saltEncoding"`
	HashEncoding string `json:"hashEncoding"`
	Separator    string `json:"separator"`
	Key          string `json:"key"`
	KeyEncoding  string `json:"keyEncoding"`
}

// checkResult is one output line. Error never holds the password or the hash.
type checkResult struct {
	Match *bool  `json:"match,omitempty"`
	Error string `json:"error,omitempty"`
}

type checkJob struct {
	line []byte
	err  error // the line could not be read
	out  chan checkResult
}

const maxCheckLine = 1 << 20

func runHashesCheck(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "hashes check")
	hashesCheckHelp.install(fs)
	hc := defaultHashConfig()
	hc.origin = origins{}
	if err := applyBindingsEnv(hc.bindings(), env.Getenv, hc.origin); err != nil {
		return 2, err
	}
	registerBindings(fs, hc.bindings())
	path := fs.String("f", "", "input file (default standard input)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "verifications in parallel")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	hc.origin.noteFlags(fs, hc.bindings())
	if fs.NArg() > 0 {
		return 2, fmt.Errorf("check: unexpected argument %q", fs.Arg(0))
	}
	if *workers < 1 {
		return 2, fmt.Errorf("check: --workers must be at least 1")
	}
	base, err := hc.options()
	if err != nil {
		return 2, err
	}
	in := env.Stdin
	if *path != "" && *path != "-" {
		f, err := os.Open(*path)
		if err != nil {
			return 1, fmt.Errorf("check: %w", err)
		}
		defer f.Close()
		in = f
	}

	// The reader queues each job on order (which keeps the output in input order) and then hands it to a worker on
	// jobs; the writer takes jobs from order and waits for their results. On cancellation every stage stops
	// waiting: the reader and the writer at once, the workers after the verification in progress.
	jobs := make(chan *checkJob)
	order := make(chan *checkJob, 4**workers) // bounds the lines in flight; keeps output in input order
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j.out <- checkOne(ctx, j, base) // buffered: never blocks
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(jobs)
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := readLine(r, maxCheckLine)
			if err == io.EOF {
				readErr <- nil
				return
			}
			j := &checkJob{out: make(chan checkResult, 1)}
			switch {
			case errors.Is(err, errLineTooLong):
				j.err = err
			case err != nil:
				readErr <- err
				return
			case len(bytes.TrimSpace(line)) == 0:
				continue
			default:
				j.line = line
			}
			select {
			case order <- j:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
	}()

	w := &errWriter{w: env.Stdout}
	bw := bufio.NewWriter(w)
	status := 0
	var stopErr error
write:
	for j := range order {
		var res checkResult
		select {
		case res = <-j.out:
		default:
			// Not ready: show what is done while waiting.
			bw.Flush()
			select {
			case res = <-j.out:
			case <-ctx.Done():
				// The job may never reach a worker: stop waiting for it.
				stopErr = ctx.Err()
				break write
			}
		}
		if res.Error != "" {
			status = 1
		}
		b, err := json.Marshal(res)
		if err != nil {
			stopErr = err
			break
		}
		bw.Write(append(b, '\n'))
		if w.err != nil {
			break
		}
	}
	cancel()
	wg.Wait() // the verifications in progress end; no new one starts
	if err := bw.Flush(); err != nil {
		return 1, fmt.Errorf("check: writing output: %w", err)
	}
	if stopErr != nil {
		return 1, fmt.Errorf("check: interrupted: %w", stopErr)
	}
	if err := <-readErr; err != nil {
		return 1, fmt.Errorf("check: reading input: %w", err)
	}
	return status, nil
}

var errLineTooLong = errors.New("line longer than 1 MiB")

// readLine returns the next line without its end; a line longer than max is skipped and reported.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	tooLong := false
	for {
		part, err := r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(part) > max+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, part...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(buf) > 0 || tooLong):
			// last line without a newline
		case err != nil:
			return nil, err
		}
		if tooLong {
			return nil, errLineTooLong
		}
		return bytes.TrimRight(buf, "\r\n"), nil
	}
}

func checkOne(ctx context.Context, j *checkJob, base pwhash.Options) checkResult {
	if j.err != nil {
		return checkResult{Error: j.err.Error()}
	}
	var in checkLine
	dec := json.NewDecoder(bytes.NewReader(j.line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return checkResult{Error: "not a JSON object with hash and password (and optional encoding, format, firebase, scryptLnIsN, digest)"}
	}
	if in.Password == nil || len(in.Hash) == 0 {
		return checkResult{Error: "hash and password are required"}
	}
	var hash string
	switch t := bytes.TrimSpace(in.Hash); {
	case len(t) > 0 && t[0] == '"':
		if json.Unmarshal(t, &hash) != nil {
			return checkResult{Error: "hash: not a JSON string"}
		}
	case len(t) > 0 && t[0] == '{':
		hash = string(t)
	default:
		return checkResult{Error: "hash: want a string or a JSON object"}
	}
	opt := base
	if in.Encoding != "" {
		opt.Encoding = in.Encoding
	}
	if in.Format != "" {
		opt.Format = in.Format
	}
	if in.Firebase != nil {
		opt.Firebase = in.Firebase
	}
	if in.ScryptLnIsN != nil {
		opt.ScryptLnIsN = *in.ScryptLnIsN
	}
	if d := in.Digest; d != nil {
		opt.Digest = pwhash.DigestParams{SaltPosition: d.SaltPosition, SaltEncoding: d.SaltEncoding, HashEncoding: d.HashEncoding,
			Separator: d.Separator, Key: d.Key, KeyEncoding: d.KeyEncoding}
	}
	if err := opt.Validate(); err != nil {
		return checkResult{Error: err.Error()}
	}
	ok, err := pwhash.Verify(ctx, *in.Password, hash, opt)
	if err != nil {
		return checkResult{Error: err.Error()}
	}
	return checkResult{Match: &ok}
}

// ---- lint ----

// lintReport is the outcome of `hashes lint`; its JSON form is the --json output.
type lintReport struct {
	Users     int64            `json:"users"`
	Formats   map[string]int64 `json:"formats"`
	NoHash    lintCategory     `json:"noHash"`
	BadRows   lintCategory     `json:"badRows"`
	Malformed lintCategory     `json:"malformed"`
	OverLimit lintCategory     `json:"overLimit"`
	Unknown   lintCategory     `json:"unknown"`
	// Unsupported: known variants this version cannot verify (argon2d, argon2 1.0, DES crypt).
	Unsupported lintCategory `json:"unsupported"`
}

// lintCategory counts one kind of finding and keeps the first lines where it was seen, with a reason that never
// holds the hash.
type lintCategory struct {
	Count int64      `json:"count"`
	First []lintLine `json:"first,omitempty"`
}

type lintLine struct {
	Line   int64  `json:"line"`
	Reason string `json:"reason,omitempty"`
}

func (c *lintCategory) add(line int64, reason string, max int) {
	c.Count++
	if len(c.First) < max {
		c.First = append(c.First, lintLine{Line: line, Reason: reason})
	}
}

// unusable counts the users whose hash cannot be used, or whose row could not be read.
func (r *lintReport) unusable() int64 {
	return r.BadRows.Count + r.Malformed.Count + r.OverLimit.Count + r.Unknown.Count + r.Unsupported.Count
}

func runHashesLint(ctx context.Context, env *Env, args []string) (int, error) {
	fs := newFlagSet(env, "hashes lint")
	hashesLintHelp.install(fs)
	hc := defaultHashConfig()
	hc.origin = origins{}
	if err := applyBindingsEnv(hc.bindings(), env.Getenv, hc.origin); err != nil {
		return 2, err
	}
	registerBindings(fs, hc.bindings())
	src := fs.String("source", "", "legacy users file (CSV, JSON Lines or JSON array; - for standard input)")
	format := fs.String("format", "", "source format: csv, jsonl or json (default from the extension)")
	kind := fs.String("source-kind", "", "source kind: "+sourceKindNames()+" (default: detected, else file)")
	passwords := fs.String("source-passwords", "", "Auth0 password-hash export joined to the user export")
	dsn := fs.String("source-dsn", "", "database of the sql and supabase kinds (default $IDSHIFT_SOURCE_DSN)")
	query := fs.String("source-query", "", "sql kind: the query returning the users (supabase: overrides the preset's)")
	mappingPath := fs.String("mapping", "", "YAML field mapping (default: the documented default schema)")
	asJSON := fs.Bool("json", false, "write the report as JSON")
	maxLines := fs.Int("max-lines", 20, "line numbers kept per category")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	hc.origin.noteFlags(fs, hc.bindings())
	if fs.NArg() > 0 {
		return 2, fmt.Errorf("lint: unexpected argument %q", fs.Arg(0))
	}
	if *dsn == "" {
		*dsn = env.Getenv("IDSHIFT_SOURCE_DSN")
	}
	if *src == "" && !kindReadsNoFile(*kind) {
		return 2, fmt.Errorf("lint: --source is required")
	}
	opt, err := hc.options()
	if err != nil {
		return 2, err
	}
	cfg := file.Config{Path: *src, Format: *format, Stdin: env.Stdin}
	if *mappingPath != "" {
		m, err := source.LoadMapping(*mappingPath)
		if err != nil {
			return 1, fmt.Errorf("lint: %w", err)
		}
		cfg.Mapping = m
	}
	s, err := openSource(sourceSpec{Kind: *kind, Path: cfg.Path, Format: cfg.Format, Passwords: *passwords, DSN: *dsn, Query: *query, Mapping: cfg.Mapping, Stdin: env.Stdin})
	if err != nil {
		return 1, fmt.Errorf("lint: %w", err)
	}
	defer s.Close()
	rep, err := lint(ctx, s, opt, *maxLines)
	if err != nil {
		return 1, fmt.Errorf("lint: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 1, err
		}
	} else {
		writeLintText(env.Stdout, rep)
	}
	if rep.unusable() > 0 {
		return 1, nil
	}
	return 0, nil
}

func lint(ctx context.Context, s idshift.Source, opt pwhash.Options, max int) (*lintReport, error) {
	rep := &lintReport{Formats: map[string]int64{}}
	for {
		u, err := s.Next(ctx)
		if err == io.EOF {
			return rep, nil
		}
		var rowErr *idshift.RowError
		if errors.As(err, &rowErr) {
			rep.BadRows.add(rowErr.Line, rowErr.Reason, max)
			continue
		}
		if err != nil {
			return rep, err
		}
		rep.Users++
		if u.Credential.Kind != idshift.CredentialHash || u.Credential.Hash == "" {
			rep.NoHash.add(u.Line, "", max)
			continue
		}
		raw := u.Credential.Hash
		_, err = pwhash.Normalize(raw, opt)
		switch {
		case err == nil:
			name, ok := pwhash.Detect(raw)
			if !ok {
				name = strings.ToLower(opt.Format)
			}
			rep.Formats[name]++
		case errors.Is(err, pwhash.ErrOverLimit):
			rep.OverLimit.add(u.Line, err.Error(), max)
		case errors.Is(err, pwhash.ErrUnsupported):
			rep.Unsupported.add(u.Line, err.Error(), max)
		case errors.Is(err, pwhash.ErrUnknownFormat):
			rep.Unknown.add(u.Line, err.Error(), max)
		default:
			rep.Malformed.add(u.Line, err.Error(), max)
		}
	}
}

func writeLintText(w io.Writer, r *lintReport) {
	fmt.Fprintf(w, "users: %d\n", r.Users)
	names := make([]string, 0, len(r.Formats))
	for n := range r.Formats {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 0 {
		fmt.Fprintln(w, "usable hashes by format:")
		for _, n := range names {
			fmt.Fprintf(w, "  %-24s %d\n", n, r.Formats[n])
		}
	}
	for _, c := range []struct {
		name string
		c    *lintCategory
	}{
		{"no hash", &r.NoHash}, {"unreadable rows", &r.BadRows}, {"malformed hashes", &r.Malformed},
		{"over the cost caps", &r.OverLimit}, {"unknown formats", &r.Unknown}, {"unsupported variants", &r.Unsupported},
	} {
		fmt.Fprintf(w, "%s: %d\n", c.name, c.c.Count)
		for _, l := range c.c.First {
			if l.Reason != "" {
				fmt.Fprintf(w, "  line %d: %s\n", l.Line, l.Reason)
			} else {
				fmt.Fprintf(w, "  line %d\n", l.Line)
			}
		}
		if n := c.c.Count - int64(len(c.c.First)); n > 0 {
			fmt.Fprintf(w, "  … and %d more\n", n)
		}
	}
	if n := r.unusable(); n > 0 {
		fmt.Fprintf(w, "%d user(s) cannot be used as they are\n", n)
	} else {
		fmt.Fprintln(w, "every hash can be used")
	}
}
