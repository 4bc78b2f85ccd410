package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

var reportHelp = help{
	usage: "idshift report --json FILE --html FILE [flags]",
	about: `Writes where the migration stands to files: the figures of idshift status as JSON (package report's Status)
and as one self-contained HTML page (no external assets, no script): the headline figures (migrated by idshift
serve, migrated by Entra silently, still to migrate, to reset, blocked), the progress over time as a table and an
inline SVG chart (attempts and migrations per UTC day, cumulative migrations), the attempts by front, action and
reason, and what is left. The tenant is read as idshift status reads it; --offline reads the state store only.
At least one of --json and --html; "-" writes to standard output. Files are written whole (through a temporary
file renamed into place) with mode 0600. Same configuration and credentials as idshift import. See docs/status.md.`,
	examples: []example{
		{"both files, tenant and store", "idshift report --config idshift.yaml --json status.json --html status.html"},
		{"the store only, the page to standard output", "idshift report --config idshift.yaml --offline --html -"},
	},
	groups: []flagGroup{
		{"Output", []string{"json", "html", "offline"}},
		{"Tenant", []string{"config", "domain", "tenant-id", "graph-url", "authority-host", "ca-file", "extensions-app-id", "client-id", "client-secret", "client-certificate", "migration-attribute", "legacy-id-attribute"}},
		{"State store", []string{"store", "allow-unsealed-secrets"}},
		{"Limits (reads and writes to the tenant)", []string{"app-writes", "app-window", "tenant-writes", "tenant-window"}},
		{"Hashes (of the credentials the store holds)", hashFormatFlags},
		{"Limits (cost caps of legacy hashes)", hashCapFlags},
	},
}

func runReport(ctx context.Context, env *Env, args []string) (int, error) {
	var jsonPath, htmlPath string
	var offline bool
	cfg, err := parseEndgameFlags(env, "report", args, reportHelp, func(fs flagSet) {
		fs.StringVar(&jsonPath, "json", "", `write the figures as JSON to FILE ("-": standard output)`)
		fs.StringVar(&htmlPath, "html", "", `write the self-contained HTML page to FILE ("-": standard output)`)
		fs.BoolVar(&offline, "offline", false, "read the state store only (users Entra migrated without a callout are then not counted)")
	})
	if err != nil {
		return exitUsage, err
	}
	if jsonPath == "" && htmlPath == "" {
		return exitUsage, fmt.Errorf("nothing to write: give --json FILE, --html FILE or both")
	}
	if jsonPath == "-" && htmlPath == "-" {
		return exitUsage, fmt.Errorf("--json and --html cannot both write to standard output")
	}
	status, err := readStatus(ctx, env, cfg, offline)
	if err != nil {
		return exitFailed, err
	}
	if jsonPath != "" {
		err := writeReportFile(env, jsonPath, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(status)
		})
		if err != nil {
			return exitFailed, fmt.Errorf("report: json %s: %w", jsonPath, err)
		}
	}
	if htmlPath != "" {
		if err := writeReportFile(env, htmlPath, status.WriteHTML); err != nil {
			return exitFailed, fmt.Errorf("report: html %s: %w", htmlPath, err)
		}
	}
	return exitComplete, nil
}

// writeReportFile writes to standard output for "-", else to path through a temporary file renamed into place.
func writeReportFile(env *Env, path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(env.Stdout)
	}
	return writeFileAtomic(path, write)
}
