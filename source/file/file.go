// Package file reads legacy users from CSV, JSON Lines and JSON array files as streams: one record in memory at a
// time, whatever the number of users, each user carrying the line it came from.
//
// Example configuration (YAML):
//
//	path: users.csv       # "-" reads standard input
//	format: csv           # csv, jsonl or json; default from the extension
//	name: legacy-shop     # put in User.Source; default "file"
//	delimiter: ";"        # CSV only; default ","
//
// Records become users through a source.Mapping (source.DefaultMapping when none is set). A record that cannot be
// read or mapped is returned from Next as an *idshift.RowError with its line, and reading goes on with the next.
package file

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	ireader "github.com/idshift/idshift/source/internal/reader"
)

// Formats.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
	FormatJSON  = "json"
)

// DefaultMaxRecordBytes caps the size of one record (a CSV row or a JSON line) so that a broken file cannot make a
// reader hold more than that in memory. A longer record is a row error.
const DefaultMaxRecordBytes = 1 << 20

// maxRecordLines caps the physical lines one quoted CSV record may span. A quote left open therefore costs at most
// this many lines: the record is reported and reading resumes on the line after its first.
const maxRecordLines = 100

// Config configures a file source. The zero value with a Path is usable.
type Config struct {
	// Path of the file; "-" reads Stdin.
	Path string `yaml:"path"`
	// Format is csv, jsonl (JSON Lines) or json (an array of objects). Default from the extension of Path: .csv
	// (and .tsv, tab-separated), .jsonl or .ndjson, .json.
	Format string `yaml:"format"`
	// Name is put in User.Source. Default the mapping's source constant, else "file".
	Name string `yaml:"name"`
	// Mapping turns records into users; nil means source.DefaultMapping().
	Mapping *source.Mapping `yaml:"-"`
	// Comma is the CSV delimiter, an ASCII character other than a quote, CR or LF; default Delimiter, else ','
	// (tab for .tsv).
	Comma rune `yaml:"-"`
	// Delimiter is Comma as configuration files write it: one character, or "tab".
	Delimiter string `yaml:"delimiter"`
	// MaxRecordBytes caps one record; default DefaultMaxRecordBytes.
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// Stdin is read when Path is "-"; default os.Stdin.
	Stdin io.Reader `yaml:"-"`
	// Logger receives the warnings (a CSV column the default schema does not know); default none.
	Logger *slog.Logger `yaml:"-"`
	// Unmapped puts in User.Unmapped the columns (CSV) or keys (JSON, by dotted path) the mapping does not read,
	// for an audit; import leaves it off and pays nothing.
	Unmapped bool `yaml:"-"`
}

// Open checks the configuration, opens the file and, for CSV, reads and checks the header against the mapping.
// Errors name the field at fault (file: Format: unknown "xml"; want csv, jsonl or json) and are *idshift.Error with
// code EINVALID for a bad configuration or header.
func (c Config) Open() (idshift.Source, error) {
	if c.Path == "" {
		return nil, idshift.Invalid("file: Path", "required")
	}
	format := strings.ToLower(c.Format)
	ext := strings.ToLower(filepath.Ext(c.Path))
	if format == "" {
		switch ext {
		case ".csv", ".tsv":
			format = FormatCSV
		case ".jsonl", ".ndjson":
			format = FormatJSONL
		case ".json":
			format = FormatJSON
		default:
			return nil, idshift.Invalid("file: Format", "cannot tell from %q; set csv, jsonl or json", c.Path)
		}
	}
	switch format {
	case FormatCSV, FormatJSONL, FormatJSON:
	default:
		return nil, idshift.Invalid("file: Format", "unknown %q; want csv, jsonl or json", c.Format)
	}
	comma := c.Comma
	if comma == 0 && c.Delimiter != "" {
		switch r := []rune(c.Delimiter); {
		case c.Delimiter == "tab" || c.Delimiter == `\t`:
			comma = '\t'
		case len(r) == 1:
			comma = r[0]
		default:
			return nil, idshift.Invalid("file: Delimiter", "%q is not one character or \"tab\"", c.Delimiter)
		}
	}
	if comma == 0 {
		comma = ','
		if ext == ".tsv" {
			comma = '\t'
		}
	}
	if comma >= utf8.RuneSelf || comma == '"' || comma == '\r' || comma == '\n' {
		return nil, idshift.Invalid("file: Comma", "%q is not an ASCII character other than a quote, CR or LF", comma)
	}
	max := c.MaxRecordBytes
	if max == 0 {
		max = DefaultMaxRecordBytes
	}
	if max < 0 {
		return nil, idshift.Invalid("file: MaxRecordBytes", "negative")
	}
	m := c.Mapping
	if m == nil {
		m = source.DefaultMapping()
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("file: Mapping: %w", err)
	}
	name := c.Name
	if name == "" {
		name = m.Source
	}
	if name == "" {
		name = "file"
	}

	var rc io.ReadCloser
	if c.Path == "-" {
		in := c.Stdin
		if in == nil {
			in = os.Stdin
		}
		rc = io.NopCloser(in)
	} else {
		f, err := os.Open(c.Path)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		rc = f
	}
	br := bufio.NewReaderSize(rc, 64<<10)
	// A byte order mark is not data.
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	base := reader{closer: rc, mapping: m, name: name, path: c.Path, logger: c.Logger, defaultSchema: c.Mapping == nil}
	if c.Unmapped {
		base.read = ireader.Set(m.Columns()...)
	}

	var (
		src idshift.Source
		err error
	)
	switch format {
	case FormatCSV:
		src, err = newCSV(base, br, byte(comma), max)
	case FormatJSONL:
		src = newJSONL(base, br, max)
	case FormatJSON:
		src, err = newJSONArray(base, br)
	}
	if err != nil {
		_ = rc.Close()
		return nil, err
	}
	return src, nil
}

// reader is what every format shares.
// SourceName is the name the reader stamps on every user (source.Named).
func (r *reader) SourceName() string { return r.name }

type reader struct {
	closer  io.Closer
	mapping *source.Mapping
	name    string
	path    string
	logger  *slog.Logger // nil: no warnings
	// defaultSchema is set when no mapping was given: a column the schema does not know is then likely a typo.
	defaultSchema bool
	known         []string        // the default schema's columns, once a warning is due
	warned        map[string]bool // the columns already warned about
	// read are the mapping's columns when the values it leaves out go to User.Unmapped; nil otherwise.
	read map[string]bool
}

// warnUnknownColumns warns once for each column (a CSV header name, a JSON record's key) that the default schema
// does not read, naming the nearest known column. An explicit mapping reads what it names and ignores the rest
// without a word.
func (r *reader) warnUnknownColumns(names []string) {
	if !r.defaultSchema || r.logger == nil {
		return
	}
	if r.known == nil {
		r.known = r.mapping.Columns()
		r.warned = map[string]bool{}
	}
	for _, h := range names {
		if r.warned[h] || slices.Contains(r.known, h) {
			continue
		}
		r.warned[h] = true
		args := []any{"path", r.path, "column", h}
		if near := source.Nearest(h, r.known); near != "" {
			args = append(args, "did_you_mean", near)
		}
		r.logger.Warn("file: column not in the default schema, ignored (a mapping names other columns)", args...)
	}
}

func (r *reader) Close() error { return r.closer.Close() }

// user maps a record and stamps the source name. raw is the record's JSON text, for User.Unmapped.
func (r *reader) user(line int64, get func(string) (string, bool), raw []byte) (*idshift.User, error) {
	u, err := r.mapping.Apply(line, get)
	if err != nil {
		return nil, err
	}
	u.Source = r.name
	if r.read != nil {
		u.Unmapped = ireader.UnmappedJSON(raw, r.read)
	}
	return u, nil
}

func checkCtx(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	return nil
}
