package sqlsource_test

import (
	"fmt"
	"testing"

	"github.com/idshift/idshift/source/internal/readertest"
	sqlsource "github.com/idshift/idshift/source/sqlsource"
)

// TestMemoryFlat reads 100,000 generated rows (about 25 MB of values) from each server and checks that the live heap
// after the first 10,000 is within 4 MB of what it was before the query, and after the last within 1 MB of that:
// rows are streamed, not fetched whole.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 100,000 rows per server")
	}
	const n = 100000
	queries := map[string]string{
		"postgres": fmt.Sprintf(`SELECT 'u' || g AS legacy_id, 'user' || g || '@example.com' AS email, repeat('x', 200) AS display_name FROM generate_series(1, %d) g`, n),
		"mariadb":  fmt.Sprintf(`SELECT CONCAT('u', seq) AS legacy_id, CONCAT('user', seq, '@example.com') AS email, REPEAT('x', 200) AS display_name FROM seq_1_to_%d`, n),
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			connect(t, be)
			base := readertest.LiveHeap()
			src, err := sqlsource.Config{DSN: be.dsn, Query: queries[be.name]}.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			early := readertest.Flat(t, src, n)
			if early > base+4<<20 {
				t.Errorf("live heap grew from %d to %d bytes over the first %d rows: the result is held, not streamed", base, early, n/10)
			}
		})
	}
}
