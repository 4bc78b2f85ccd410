package file_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idshift/idshift/source"
	"github.com/idshift/idshift/source/file"
)

// TestUnknownColumnWarning checks that the default schema warns once for each column it does not know, naming the
// nearest known one, and that an explicit mapping does not.
func TestUnknownColumnWarning(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users.csv")
	data := "legacy_id,emial,username,display_name,favourite_colour\n1,ada@example.com,ada,Ada,blue\n2,bob@example.com,bob,Bob,red\n"
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	read := func(m *source.Mapping) string {
		var logs bytes.Buffer
		src, err := file.Config{Path: p, Mapping: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))}.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		for {
			if _, err := src.Next(t.Context()); err != nil {
				break
			}
		}
		return logs.String()
	}
	logs := read(nil)
	if strings.Count(logs, "level=WARN") != 2 || strings.Count(logs, "column=emial") != 1 ||
		!strings.Contains(logs, "column=emial did_you_mean=email") || !strings.Contains(logs, "column=favourite_colour") ||
		strings.Contains(logs, "favourite_colour did_you_mean") {
		t.Errorf("default schema warnings:\n%s", logs)
	}
	// JSON Lines and JSON arrays: the same, for the keys of the records (a key seen again is not warned again).
	for name, data := range map[string]string{
		"users.jsonl": `{"legacy_id":"1","emial":"a@example.com","username":"ada"}` + "\n" + `{"legacy_id":"2","emial":"b@example.com","username":"bob","favourite_colour":"red"}` + "\n",
		"users.json":  `[{"legacy_id":"1","emial":"a@example.com","username":"ada"},{"legacy_id":"2","emial":"b@example.com","username":"bob","favourite_colour":"red"}]`,
	} {
		jp := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(jp, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		var jlogs bytes.Buffer
		src, err := file.Config{Path: jp, Logger: slog.New(slog.NewTextHandler(&jlogs, nil))}.Open()
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := src.Next(t.Context()); err != nil {
				break
			}
		}
		src.Close()
		if got := jlogs.String(); strings.Count(got, "level=WARN") != 2 || !strings.Contains(got, "column=emial did_you_mean=email") ||
			!strings.Contains(got, "column=favourite_colour") {
			t.Errorf("%s warnings:\n%s", name, got)
		}
	}
	m, err := source.ParseMapping([]byte("legacy_id: legacy_id\ndisplay_name: display_name\nidentities:\n  - sign_in_type: emailAddress\n    column: emial\n"))
	if err != nil {
		t.Fatal(err)
	}
	if logs := read(m); logs != "" {
		t.Errorf("explicit mapping warned:\n%s", logs)
	}
}
