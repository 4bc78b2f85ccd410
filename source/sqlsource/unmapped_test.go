package sqlsource_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/idshift/idshift"
	sqlsource "github.com/idshift/idshift/source/sqlsource"
)

// TestUnmappedColumns: opened for an audit, the reader exposes the query's columns the default schema does not
// read, NULLs and empty values left out; without the option it keeps nothing.
func TestUnmappedColumns(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			db := connect(t, b)
			tbl := table(t, db, fmt.Sprintf("legacy_id %[1]s, email %[1]s, password_hash %[1]s, tax_id %[1]s, notes %[1]s", b.text))
			exec(t, db, fmt.Sprintf("INSERT INTO %s VALUES (%s, %s, %s, %s, %s)", tbl, b.ph(1), b.ph(2), b.ph(3), b.ph(4), b.ph(5)),
				"u1", "a@example.com", "$2a$10$abc", "123-45-6789", nil)
			for _, on := range []bool{false, true} {
				src, err := sqlsource.Config{DSN: b.dsn, Query: "SELECT * FROM " + tbl, Unmapped: on}.Open()
				if err != nil {
					t.Fatal(err)
				}
				u, err := src.Next(context.Background())
				src.Close()
				if err != nil {
					t.Fatal(err)
				}
				want := []idshift.Attr{{Name: "tax_id", Value: "123-45-6789"}}
				if !on {
					want = nil
				}
				if !reflect.DeepEqual(u.Unmapped, want) {
					t.Errorf("unmapped %v: %v, want %v", on, u.Unmapped, want)
				}
			}
		})
	}
}
