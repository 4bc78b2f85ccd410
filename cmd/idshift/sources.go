package main

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/auth0"
	"github.com/idshift/idshift/source/b2c"
	"github.com/idshift/idshift/source/b2cfile"
	"github.com/idshift/idshift/source/cognito"
	"github.com/idshift/idshift/source/file"
	"github.com/idshift/idshift/source/firebase"
	"github.com/idshift/idshift/source/keycloak"
	"github.com/idshift/idshift/source/kratos"
	"github.com/idshift/idshift/source/ldif"
	sqlsource "github.com/idshift/idshift/source/sqlsource"
)

// sourceOpener opens a source; every source Config has this method.
type sourceOpener interface {
	Open() (idshift.Source, error)
}

// sourceSpec is what the command line and the configuration say about a source.
type sourceSpec struct {
	Kind, Path, Format, Name string
	// Passwords is Auth0's password-hash export.
	Passwords string
	// DSN and Query are the database and the query of the sql kinds.
	DSN, Query string
	Mapping    *source.Mapping
	Stdin      io.Reader
	// Logger takes the default schema's warnings (an unknown column, with the nearest known one).
	Logger *slog.Logger
	// Unmapped opens the reader to expose the values its mapping leaves out (User.Unmapped), for the audit. The
	// b2c and b2cfile kinds do not expose them.
	Unmapped bool
}

// sourceKinds maps --source-kind to the config of its reader: an explicit table, no registration at init.
var sourceKinds = map[string]func(s sourceSpec) sourceOpener{
	"file": func(s sourceSpec) sourceOpener {
		return file.Config{Path: s.Path, Format: s.Format, Name: s.Name, Mapping: s.Mapping, Stdin: s.Stdin, Logger: s.Logger, Unmapped: s.Unmapped}
	},
	b2cfile.Kind: func(s sourceSpec) sourceOpener {
		return b2cfile.Config{Path: s.Path, Name: s.Name, Mapping: s.Mapping, Stdin: s.Stdin}
	},
	"auth0": func(s sourceSpec) sourceOpener {
		return auth0.Config{Path: s.Path, Passwords: s.Passwords, Name: s.Name, Mapping: s.Mapping, Stdin: s.Stdin, Unmapped: s.Unmapped}
	},
	"firebase": func(s sourceSpec) sourceOpener {
		return firebase.Config{Path: s.Path, Format: s.Format, Name: s.Name, Mapping: s.Mapping, Stdin: s.Stdin, Unmapped: s.Unmapped}
	},
	"keycloak": func(s sourceSpec) sourceOpener {
		return keycloak.Config{Path: s.Path, Name: s.Name, Mapping: s.Mapping, Stdin: s.Stdin, Unmapped: s.Unmapped}
	},
	"kratos": func(s sourceSpec) sourceOpener {
		return kratos.Config{Path: s.Path, Name: s.Name, Mapping: s.Mapping, Stdin: s.Stdin, Unmapped: s.Unmapped}
	},
	"ldif": func(s sourceSpec) sourceOpener {
		return ldif.Config{Path: s.Path, Name: s.Name, Mapping: s.Mapping, Stdin: s.Stdin, Unmapped: s.Unmapped}
	},
	"sql": func(s sourceSpec) sourceOpener {
		return sqlsource.Config{DSN: s.DSN, Query: s.Query, Name: s.Name, Mapping: s.Mapping, Unmapped: s.Unmapped}
	},
	"b2c": func(s sourceSpec) sourceOpener { return b2cSpec(s) },
	"cognito": func(s sourceSpec) sourceOpener {
		return cognito.Config{Path: s.Path, Name: s.Name, Mapping: s.Mapping, Stdin: s.Stdin, Unmapped: s.Unmapped}
	},
	"supabase": func(s sourceSpec) sourceOpener {
		return sqlsource.Config{DSN: s.DSN, Query: s.Query, Preset: sqlsource.PresetSupabase, Name: s.Name, Mapping: s.Mapping, Unmapped: s.Unmapped}
	},
}

// b2cSpec opens a B2C tenant described by the YAML file at Path (b2c.LoadConfig; the client secret may come from
// IDSHIFT_B2C_CLIENT_SECRET).
type b2cSpec sourceSpec

func (s b2cSpec) Open() (idshift.Source, error) {
	if s.Path == "" {
		return nil, idshift.Invalid("source.path (--source)", "the b2c kind reads its tenant and credentials from a YAML file")
	}
	c, err := b2c.LoadConfig(s.Path, os.Getenv)
	if err != nil {
		return nil, err
	}
	if s.Name != "" {
		c.Name = s.Name
	}
	if s.Mapping != nil {
		c.Mapping = s.Mapping
	}
	if c.Logger == nil {
		c.Logger = s.Logger
	}
	return c.Open()
}

// kindReadsNoFile reports whether a source kind reads a service rather than a file (source.path is not needed).
func kindReadsNoFile(kind string) bool {
	switch strings.ToLower(kind) {
	case "sql", "supabase":
		return true
	}
	return false
}

func sourceKindNames() string {
	names := make([]string, 0, len(sourceKinds))
	for n := range sourceKinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// argSources reads the sources a command takes after its flags (audit, import), each as [KIND:]FILE: KIND one of
// sourceKinds (detected from the file's content when omitted, see detectKind), the default schema, and named after
// the file (its base name without the extension), the name its users carry as their source. A prefix that is not
// a kind ("C:", "./a:b") is part of the path.
func argSources(args []string, stdin io.Reader, logger *slog.Logger) []sourceSpec {
	var specs []sourceSpec
	for _, a := range args {
		s := sourceSpec{Path: a, Stdin: stdin, Logger: logger}
		if k, p, ok := strings.Cut(a, ":"); ok {
			if _, known := sourceKinds[strings.ToLower(k)]; known {
				s.Kind, s.Path = k, p
			}
		}
		s.Name = strings.TrimSuffix(filepath.Base(s.Path), filepath.Ext(s.Path))
		specs = append(specs, s)
	}
	return specs
}

// Open opens the source (a spec is itself a source config).
func (s sourceSpec) Open() (idshift.Source, error) { return openSource(s) }

// count estimates the records for the progress display and the quota check: the line count of a file the file
// reader reads, 0 (cannot tell cheaply) for any other kind.
func (s sourceSpec) count() int64 {
	if k := strings.ToLower(s.Kind); k != "" && k != "file" || k == "" && detectKind(s.Path) != "file" {
		return 0
	}
	return countRecords(s.Path, s.Format)
}

// openSource opens the source a spec names. An empty kind is detected from the file's content when that is
// unambiguous (detectKind), else it is "file".
func openSource(s sourceSpec) (idshift.Source, error) {
	kind := strings.ToLower(s.Kind)
	if kind == "" {
		kind = detectKind(s.Path)
	}
	mk, ok := sourceKinds[kind]
	if !ok {
		return nil, idshift.Invalid("source.kind (--source-kind)", "unknown %q; want one of %s", s.Kind, sourceKindNames())
	}
	src, err := mk(s).Open()
	if err != nil {
		return nil, err
	}
	return src, nil
}

// detectKind names the native reader of a file when its first bytes say so unmistakably: an LDIF "dn:" or
// "version: 1" start (or a .ldif name), Firebase's "identitytoolkit#DownloadAccountResponse", a Keycloak export
// (an object with "realm" and "users"), a Kratos identity ("schema_id" and "credentials") or an Auth0 user
// ("user_id": "auth0|…") or a Cognito list-users output ("Username" and "Attributes") in the first 4 KiB. Anything else (and standard input) is "file".
func detectKind(path string) string {
	if path == "" || path == "-" {
		return "file"
	}
	f, err := os.Open(path)
	if err != nil {
		return "file" // the reader reports the error
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(bufio.NewReader(f), head)
	head = bytes.TrimPrefix(head[:n], []byte("\ufeff"))
	trim := bytes.TrimLeft(head, " \t\r\n")
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case bytes.Contains(head, []byte(`"signInName"`)) || bytes.Contains(head, []byte(`"issuerUserId"`)):
		return b2cfile.Kind // B2C's user-migration sample; its Graph-shaped files need --source-kind b2cfile
	case ext == ".ldif" || bytes.HasPrefix(trim, []byte("dn:")) || bytes.HasPrefix(trim, []byte("version: 1")):
		return "ldif"
	case bytes.Contains(head, []byte("identitytoolkit#DownloadAccountResponse")):
		return "firebase"
	case bytes.HasPrefix(trim, []byte("{")) && bytes.Contains(head, []byte(`"realm"`)) && bytes.Contains(head, []byte(`"users"`)):
		return "keycloak"
	case bytes.Contains(head, []byte(`"schema_id"`)) && bytes.Contains(head, []byte(`"credentials"`)):
		return "kratos"
	case bytes.Contains(head, []byte(`"user_id": "auth0|`)) || bytes.Contains(head, []byte(`"user_id":"auth0|`)):
		return "auth0"
	case bytes.Contains(head, []byte(`"Username"`)) && bytes.Contains(head, []byte(`"Attributes"`)):
		return "cognito"
	}
	return "file"
}
