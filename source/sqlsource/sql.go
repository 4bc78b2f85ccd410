// Package sql reads users with a query against PostgreSQL or MySQL/MariaDB: any table through the default schema's
// column names (or a mapping), and Supabase's auth.users through a preset.
//
// Example configuration (YAML):
//
//	kind: sql
//	dsn: postgres://reader@db.internal:5432/app?sslmode=verify-full   # or user:pass@tcp(host:3306)/app (MySQL)
//	query: SELECT id AS legacy_id, email, pw_hash AS password_hash, full_name AS display_name FROM users
//	name: app
//
//	kind: sql
//	preset: supabase          # SELECT … FROM auth.users, mapped as below; query overrides the table it reads
//	dsn: postgres://postgres@db.example.supabase.co:5432/postgres
//
// Without a preset the query's column names are the columns of the mapping: the default schema (legacy_id, email,
// username, display_name, given_name, surname, phone, password_hash, last_sign_in, created, identities; see
// docs/sources.md) unless a mapping is given. A NULL is an absent value. The columns are checked against the mapping
// before the first row, as a CSV header is.
//
// With the supabase preset the query must return Supabase's auth.users columns id, email, encrypted_password,
// phone, raw_user_meta_data, last_sign_in_at, created_at, banned_until and deleted_at (the default query does). They
// become the native readers' columns (see source/internal/reader): legacy_id (id), email and mail (email),
// password_hash (encrypted_password, a bcrypt hash), phone (Supabase stores E.164 digits without "+"; the "+" is put
// back), display_name, given_name and surname (raw_user_meta_data's full_name or name, first_name or given_name,
// last_name or family_name), last_sign_in, created and disabled (banned_until later than Now). A user with deleted_at
// set is rejected as deleted. When the query also returns email_confirmed_at (the default query does), it becomes
// email_verified: true when set, false when NULL; without the column the source does not say.
//
// Rows are streamed (database/sql rows iteration: memory is flat in the number of users). A row that cannot be
// mapped is an *idshift.RowError whose Line is the row's number (1 for the first row). The DSN is never put in an
// error or a log line (it may hold a password).
package sqlsource

import (
	"context"
	dbsql "database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql" // driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/internal/reader"
)

// Drivers Config.Driver accepts.
const (
	DriverPostgres = "postgres"
	DriverMySQL    = "mysql"
)

// PresetSupabase reads Supabase's auth.users.
const PresetSupabase = "supabase"

// SupabaseQuery is the supabase preset's default query.
const SupabaseQuery = `SELECT id, email, encrypted_password, email_confirmed_at, phone, raw_user_meta_data, last_sign_in_at, created_at, banned_until, deleted_at FROM auth.users ORDER BY created_at, id`

// Config configures an SQL source. The zero value with a DSN and a Query (or a Preset) is usable.
type Config struct {
	// Driver is postgres or mysql (mariadb is a synonym); default postgres when the DSN is a postgres:// or
	// postgresql:// URL or a key=value string with host=, else mysql (go-sql-driver's user:pass@tcp(host)/db form).
	Driver string `yaml:"driver"`
	// DSN is the connection string. It is never logged nor put in errors.
	DSN string `yaml:"dsn"`
	// Query returns the users; required without a preset, a preset's default otherwise.
	Query string `yaml:"query"`
	// Preset is "" (the query's columns are the mapping's) or supabase.
	Preset string `yaml:"preset"`
	// Name is put in User.Source; default the mapping's source, else "sql" (or the preset's name).
	Name string `yaml:"name"`
	// Mapping turns the columns into users; nil means the default schema (the native readers' columns with a preset).
	Mapping *source.Mapping `yaml:"-"`
	// ConnectTimeout bounds Open's connection check; default 10s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Now is the clock banned_until is compared with; default time.Now.
	Now func() time.Time `yaml:"-"`
	// Unmapped puts in User.Unmapped the row's columns the mapping does not read (with the supabase preset, the
	// columns it does not read and the keys of raw_user_meta_data it does not read), for an audit; import leaves
	// it off and pays nothing.
	Unmapped bool `yaml:"-"`
}

// Open checks the configuration and the connection (a ping within ConnectTimeout). The query runs on the first Next,
// under its context.
func (c Config) Open() (idshift.Source, error) {
	if c.DSN == "" {
		return nil, idshift.Invalid("sql: DSN (source.dsn)", "required")
	}
	driver, err := c.driver()
	if err != nil {
		return nil, err
	}
	preset := strings.ToLower(c.Preset)
	query := c.Query
	name := c.Name
	switch preset {
	case "":
		if strings.TrimSpace(query) == "" {
			return nil, idshift.Invalid("sql: Query (source.query)", "required without a preset")
		}
	case PresetSupabase:
		if query == "" {
			query = SupabaseQuery
		}
		if name == "" && c.Mapping == nil {
			name = PresetSupabase
		}
	default:
		return nil, idshift.Invalid("sql: Preset (source.preset)", "unknown %q; want supabase or none", c.Preset)
	}
	m := c.Mapping
	if m == nil && preset == "" {
		m = source.DefaultMapping()
	}
	base, err := reader.NewBase("sql", name, m)
	if err != nil {
		return nil, err
	}
	db, err := dbsql.Open(driver, c.DSN)
	if err != nil {
		return nil, fmt.Errorf("sql: open %s connection: %w", driver, redact(err, c.DSN))
	}
	timeout := c.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sql: connect to %s: %w", driver, redact(err, c.DSN))
	}
	db.SetMaxOpenConns(1)
	now := c.Now
	if now == nil {
		now = time.Now
	}
	s := &src{Base: base, db: db, dsn: c.DSN, query: query, supabase: preset == PresetSupabase, now: now, rec: reader.Record{}}
	s.Closer = closerFunc(s.close)
	s.Unmapped = c.Unmapped
	return s, nil
}

func (c Config) driver() (string, error) {
	switch strings.ToLower(c.Driver) {
	case DriverPostgres, "postgresql", "pgx":
		return "pgx", nil
	case DriverMySQL, "mariadb":
		return "mysql", nil
	case "":
		d := strings.ToLower(strings.TrimSpace(c.DSN))
		if strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://") || strings.Contains(d, "host=") {
			return "pgx", nil
		}
		return "mysql", nil
	}
	return "", idshift.Invalid("sql: Driver (source.driver)", "unknown %q; want postgres or mysql", c.Driver)
}

// redact keeps a driver's error but drops the DSN (and its password) should the driver have quoted it.
func redact(err error, dsn string) error {
	if dsn != "" && strings.Contains(err.Error(), dsn) {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), dsn, "<dsn>")) //nolint:errorlint // the cause quotes a secret
	}
	return err
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

type src struct {
	reader.Base
	db       *dbsql.DB
	dsn      string
	query    string
	supabase bool
	// confirmed: the supabase query returns email_confirmed_at.
	confirmed bool
	now       func() time.Time

	rows *dbsql.Rows
	cols []string
	vals []dbsql.NullString
	ptrs []any
	n    int64
	done bool
	rec  reader.Record
	// extra are the positions of the columns no mapping reads, with Unmapped.
	extra []int
}

// start runs the query and checks its columns.
func (s *src) start(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, s.query)
	if err != nil {
		return fmt.Errorf("sql: query: %w", redact(err, s.dsn))
	}
	cols, err := rows.Columns()
	if err != nil {
		_ = rows.Close()
		return fmt.Errorf("sql: query columns: %w", err)
	}
	if s.supabase {
		if miss := missing(cols, supabaseColumns); miss != "" {
			_ = rows.Close()
			return idshift.Invalid("sql: Query (source.query)", "the supabase preset needs column %q", miss)
		}
	} else if err := s.Mapping.CheckColumns(cols); err != nil {
		_ = rows.Close()
		return fmt.Errorf("sql: query columns: %w", err)
	}
	s.rows, s.cols = rows, cols
	s.confirmed = s.supabase && missing(cols, []string{"email_confirmed_at"}) == ""
	if s.Unmapped {
		read := supabaseRead
		if !s.supabase {
			read = reader.Set(s.Mapping.Columns()...)
		}
		s.extra = reader.UnmappedColumns(cols, read)
	}
	s.vals = make([]dbsql.NullString, len(cols))
	s.ptrs = make([]any, len(cols))
	for i := range s.vals {
		s.ptrs[i] = &s.vals[i]
	}
	return nil
}

// Next implements idshift.Source.
func (s *src) Next(ctx context.Context) (*idshift.User, error) {
	if err := s.CheckCtx(ctx); err != nil {
		return nil, err
	}
	if s.done {
		return nil, io.EOF
	}
	if s.rows == nil {
		if err := s.start(ctx); err != nil {
			s.done = true
			return nil, err
		}
	}
	if !s.rows.Next() {
		s.done = true
		if err := s.rows.Err(); err != nil {
			return nil, fmt.Errorf("sql: row %d: %w", s.n+1, err)
		}
		return nil, io.EOF
	}
	s.n++
	if err := s.rows.Scan(s.ptrs...); err != nil {
		return nil, reader.Reject(s.n, "", "", "cannot read the row: %s", err.Error())
	}
	r := s.rec
	r.Reset()
	if s.supabase {
		vals := make(map[string]string, len(supabaseColumns))
		for i, c := range s.cols {
			if s.vals[i].Valid {
				vals[c] = s.vals[i].String
			}
		}
		if err := supabaseRecord(s.n, vals, s.now(), r); err != nil {
			return nil, err
		}
		if s.confirmed {
			r[reader.ColEmailVerified] = fmt.Sprint(vals["email_confirmed_at"] != "")
		}
	} else {
		for i, c := range s.cols {
			if s.vals[i].Valid {
				r[c] = s.vals[i].String
			}
		}
	}
	u, err := s.User(s.n, r)
	if err != nil || !s.Unmapped {
		return u, err
	}
	for _, i := range s.extra {
		if s.vals[i].Valid && s.vals[i].String != "" {
			u.Unmapped = append(u.Unmapped, idshift.Attr{Name: s.cols[i], Value: s.vals[i].String})
		}
	}
	if s.supabase {
		for i, c := range s.cols {
			if c != "raw_user_meta_data" || !s.vals[i].Valid {
				continue
			}
			for _, a := range reader.UnmappedJSON([]byte(s.vals[i].String), supabaseMetaRead) {
				u.Unmapped = append(u.Unmapped, idshift.Attr{Name: c + "." + a.Name, Value: a.Value})
			}
		}
	}
	return u, nil
}

// supabaseRead are the columns the supabase preset reads (encrypted_password among them: it is never exposed),
// and supabaseMetaRead the keys of raw_user_meta_data it reads.
var (
	supabaseRead     = reader.Set(supabaseColumns...)
	supabaseMetaRead = reader.Set("full_name", "name", "first_name", "given_name", "last_name", "family_name")
)

func (s *src) close() error {
	var err error
	if s.rows != nil {
		err = s.rows.Close()
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

var supabaseColumns = []string{"id", "email", "encrypted_password", "phone", "raw_user_meta_data", "last_sign_in_at", "created_at", "banned_until", "deleted_at"}

func missing(have, want []string) string {
	set := make(map[string]bool, len(have))
	for _, h := range have {
		set[strings.ToLower(h)] = true
	}
	for _, w := range want {
		if !set[w] {
			return w
		}
	}
	return ""
}

// supabaseRecord turns one auth.users row (column → value, NULLs absent) into the native readers' columns.
func supabaseRecord(n int64, v map[string]string, now time.Time, r reader.Record) error {
	id := v["id"]
	if d := v["deleted_at"]; d != "" {
		return reader.Reject(n, id, "deleted_at", "deleted user (deleted_at %s); skipped", d)
	}
	r[reader.ColLegacyID] = id
	r[reader.ColEmail] = v["email"]
	r[reader.ColMail] = v["email"]
	r[reader.ColHash] = v["encrypted_password"]
	if p := strings.TrimSpace(v["phone"]); p != "" {
		if strings.Trim(p, "0123456789") == "" {
			p = "+" + p
		}
		r[reader.ColPhone] = p
	}
	r[reader.ColCreated] = v["created_at"]
	r[reader.ColLastSignIn] = v["last_sign_in_at"]
	if b := v["banned_until"]; b != "" {
		t, err := source.ParseTime(b)
		if err != nil {
			return reader.Reject(n, id, "banned_until", "not a time: %q", b)
		}
		r[reader.ColDisabled] = fmt.Sprint(t.After(now))
	}
	if meta := strings.TrimSpace(v["raw_user_meta_data"]); meta != "" && meta != "null" {
		var m map[string]any
		if err := json.Unmarshal([]byte(meta), &m); err != nil {
			return reader.Reject(n, id, "raw_user_meta_data", "not a JSON object: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		first, last := metaString(m, "first_name", "given_name"), metaString(m, "last_name", "family_name")
		r[reader.ColGivenName], r[reader.ColSurname] = first, last
		if dn := metaString(m, "full_name", "name"); dn != "" {
			r[reader.ColDisplayName] = dn
		} else {
			r[reader.ColDisplayName] = strings.TrimSpace(first + " " + last)
		}
	}
	return nil
}

func metaString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && strings.TrimSpace(s) != "" {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

var _ idshift.Source = (*src)(nil)
