package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Seen is a disk-backed set of 64-bit fingerprints, each with the line that first used it: the importer's index of
// the legacy ids and identities already planned in a run, so that a duplicate inside a source is rejected with the
// line of its first occurrence while memory stays flat in the number of users. It lives in a temporary file that
// Close removes. It is used by one goroutine at a time.
type Seen struct {
	db   *sql.DB
	conn *sql.Conn // one connection holding one transaction for the index's whole life
	dir  string
}

// OpenSeen creates an empty index in a new temporary directory under dir ("" for the system's).
func OpenSeen(ctx context.Context, dir string) (*Seen, error) {
	tmp, err := os.MkdirTemp(dir, "idshift-seen-")
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
	// cache spills, not at every Mark (commits were most of its cost).
	if s.conn, err = db.Conn(ctx); err == nil {
		_, err = s.conn.ExecContext(ctx, "BEGIN")
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
	if s.conn != nil {
		s.conn.Close()
	}
	err := s.db.Close()
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}
