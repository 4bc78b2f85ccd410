package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// deterministicRows is how many rows TestDeterministic regenerates.
var deterministicRows = 25

// TestDeterministic regenerates the first rows of users.csv and compares them with the committed file: the data is
// reproducible from the seed (a full run takes too long for a unit test; rows depend only on the rows before them).
func TestDeterministic(t *testing.T) {
	rows := deterministicRows
	var users, passwords bytes.Buffer
	if err := newGenerator().usersCSV(&users, &passwords, rows); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../users.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(committed), "\n")
	if want := strings.Join(lines[:rows+1], ""); users.String() != want {
		t.Fatalf("generated rows differ from ../users.csv; run go run ./examples/gen\ngot:\n%s\nwant:\n%s", users.String(), want)
	}
	pw, err := os.ReadFile("../passwords.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pw), passwordsHeader+passwords.String()) {
		t.Fatal("generated passwords differ from ../passwords.txt; run go run ./examples/gen")
	}
}
