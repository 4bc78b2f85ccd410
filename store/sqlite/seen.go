package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Seen is a disk-backed set of 64-bit fingerprints, each with the line that first used it: the importer's index of
// the legacy ids and identities already planned in a run, so that a duplicate inside a source is rejected with the
// line of its first occurrence while memory stays flat in the number of users. It lives in a temporary directory
// (idshift-seen-*) that Close removes. An index holds an exclusive lock on its file for its whole life, so that the
// next OpenSeen in the same directory can tell the index of a killed process (unlocked) from a live one, in this
// process or another (two shards may share a directory), and remove it. It is used by one goroutine at a time.
type Seen struct {
	db   *sql.DB
	conn *sql.Conn // one connection holding one transaction for the index's whole life
	dir  string
}

// OpenSeen creates an empty index in a new temporary directory under dir ("" for the system's), after removing the
// stale indexes that killed runs left there (see RemoveStaleSeen).
func OpenSeen(ctx context.Context, dir string) (*Seen, error) {
	if _, err := RemoveStaleSeen(ctx, dir); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, seenPrefix)
	if err != nil {
		return nil, fmt.Errorf("sqlite: seen index: %w", err)
	}
	q := url.Values{}
	// The index is scratch: losing it on a crash costs nothing (a rerun builds it again), so it is not synced.
	q.Add("_pragma", "journal_mode(OFF)")
	q.Add("_pragma", "synchronous(OFF)")
	q.Add("_pragma", "cache_size(-16384)") // 16 MiB of page cache, whatever the number of users
	db, err := sql.Open("sqlite", "file:"+filepath.Join(tmp, "seen.db")+"?"+q.Encode())
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("sqlite: seen index: %w", err)
	}
	db.SetMaxOpenConns(1)
	s := &Seen{db: db, dir: tmp}
	if _, err := db.ExecContext(ctx, `CREATE TABLE seen (fp INTEGER PRIMARY KEY, line INTEGER NOT NULL)`); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: seen index: %w", err)
	}
	// The index is never committed: one open transaction means pages are written to the file only when the page
	// cache spills, not at every Mark (commits were most of its cost). It is exclusive: the lock tells other runs
	// that the index is alive.
	if s.conn, err = db.Conn(ctx); err == nil {
		_, err = s.conn.ExecContext(ctx, "BEGIN EXCLUSIVE")
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: seen index: %w", err)
	}
	return s, nil
}

// Mark records each fingerprint with its line unless it is already there, and returns for each the line recorded
// first (earlier in fps counts as first too).
func (s *Seen) Mark(ctx context.Context, fps []uint64, lines []int64) ([]int64, error) {
	firstOf := make(map[int64]int64, len(fps))
	// Rows go in fingerprint order so that each statement walks the B-tree forward instead of jumping about; a
	// repeated fingerprint keeps its earliest line (stable sort).
	order := make([]int, len(fps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(int64(fps[a]), int64(fps[b])) })
	for lo := 0; lo < len(fps); lo += seenRowsPerStatement {
		hi := min(lo+seenRowsPerStatement, len(fps))
		var q strings.Builder
		q.WriteString("INSERT INTO seen (fp, line) VALUES ")
		args := make([]any, 0, 2*(hi-lo))
		for i := lo; i < hi; i++ {
			if i > lo {
				q.WriteByte(',')
			}
			q.WriteString("(?,?)")
			args = append(args, int64(fps[order[i]]), lines[order[i]])
		}
		// An upsert that changes nothing returns the row as it stands: the first line recorded for the fingerprint,
		// also when the fingerprint repeats within the statement.
		q.WriteString(" ON CONFLICT (fp) DO UPDATE SET line = line RETURNING fp, line")
		rows, err := s.conn.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: seen index: %w", err)
		}
		for rows.Next() {
			var fp, line int64
			if err := rows.Scan(&fp, &line); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: seen index: %w", err)
			}
			firstOf[fp] = line
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("sqlite: seen index: %w", err)
		}
	}
	first := make([]int64, len(fps))
	for i, fp := range fps {
		l, ok := firstOf[int64(fp)]
		if !ok {
			return nil, fmt.Errorf("sqlite: seen index: fingerprint %x not returned", fp)
		}
		first[i] = l
	}
	return first, nil
}

// seenRowsPerStatement keeps a statement's parameters (two a row) well under SQLite's limit.
const seenRowsPerStatement = 500

// Close drops the index and its file.
func (s *Seen) Close() error {
	var err error
	if s.conn != nil {
		err = s.conn.Close()
	}
	err = errors.Join(err, s.db.Close(), os.RemoveAll(s.dir))
	if err != nil {
		return fmt.Errorf("sqlite: seen index: %w", err)
	}
	return nil
}

const seenPrefix = "idshift-seen-"

// processStart is about when this process started: an index directory created before it cannot be this process's.
var processStart = time.Now()

// RemoveStaleSeen removes the indexes (idshift-seen-* directories) under dir ("" for the system's temporary
// directory) that no live run holds: created before this process started and whose file is not locked (its run was
// killed) or missing. It returns how many it removed. An index in use, by this process or another, is left alone.
func RemoveStaleSeen(ctx context.Context, dir string) (int, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	matches, err := filepath.Glob(filepath.Join(dir, seenPrefix+"*"))
	if err != nil {
		return 0, fmt.Errorf("sqlite: stale seen indexes: %w", err)
	}
	n := 0
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil || !fi.IsDir() || !fi.ModTime().Before(processStart) {
			continue
		}
		stale, err := seenIsStale(ctx, filepath.Join(m, "seen.db"))
		if err != nil || !stale {
			continue
		}
		if err := os.RemoveAll(m); err != nil {
			return n, fmt.Errorf("sqlite: remove stale seen index: %w", err)
		}
		n++
	}
	return n, nil
}

// seenIsStale reports whether no run holds the index file path: it is missing, or its lock can be taken.
func seenIsStale(ctx context.Context, path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(0)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return false, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return false, nil // locked (busy): a live run holds it
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		return false, err
	}
	return true, nil
}
