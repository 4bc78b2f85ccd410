// Package mergeplan is the operator's decision on unifying legacy accounts: which accounts, read from one or
// several sources, become one External ID account with several sign-in identities and several legacy
// credentials. `idshift audit --plan FILE` proposes merges into a plan; the operator accepts them (by rule on the
// command line, or by editing "accept" in the file); `idshift import --plan FILE` follows the accepted ones.
//
// A plan holds keys and evidence, never a credential or a full sign-in name: it can be reviewed, diffed and
// committed to a change ticket like any other configuration file.
package mergeplan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/idshift/idshift"
)

// Version is the plan format this package reads and writes.
const Version = 1

// Plan is a list of proposed merges and the operator's verdict on each.
type Plan struct {
	Version int `json:"version"`
	// Created is when the audit wrote the plan.
	Created time.Time `json:"created"`
	// Rule names the rule that proposed the merges (for example "verified-email").
	Rule string `json:"rule,omitempty"`
	// Sources are the names of the sources the audit read, in order.
	Sources []string `json:"sources,omitempty"`
	Merges  []Merge  `json:"merges"`
}

// Merge folds Members into Primary: the account created is the primary's (its legacy id, its profile where both
// have a value), with the identities of all and the legacy credential of each.
type Merge struct {
	// Accept is the operator's verdict; import follows only accepted merges.
	Accept  bool     `json:"accept"`
	Primary Member   `json:"primary"`
	Members []Member `json:"members"`
	// Evidence says why the merge was proposed, with sign-in names masked (for example "email j***@example.com,
	// verified on both sides").
	Evidence string `json:"evidence,omitempty"`
	// GuardedBy is the weakest credential family among the sides: a merged account is only as safe as it.
	GuardedBy string `json:"guardedBy,omitempty"`
}

// Member is one legacy account of a merge.
type Member struct {
	Source   string `json:"source"`
	LegacyID string `json:"legacyId"`
	// Line is the account's position in its source when the plan was written (informational).
	Line int64 `json:"line,omitempty"`
	// Guard is the family of the account's credential (none, unusable, plaintext, fast, slow).
	Guard string `json:"guard,omitempty"`
}

// Key returns the member's store key.
func (m Member) Key() idshift.Key { return idshift.Key{Source: m.Source, LegacyID: m.LegacyID} }

// Validate checks the plan's shape: the version, every member named, no account in two merges or twice in one.
// Its error names the merge (by index) and the field.
func (p *Plan) Validate() error {
	if p.Version != Version {
		return fmt.Errorf("version: %d is not a plan version this idshift reads (want %d)", p.Version, Version)
	}
	seen := make(map[idshift.Key]int, 2*len(p.Merges))
	for i, m := range p.Merges {
		if len(m.Members) == 0 {
			return fmt.Errorf("merges[%d].members: a merge needs at least one member besides its primary", i)
		}
		all := append([]Member{m.Primary}, m.Members...)
		for j, mem := range all {
			field := fmt.Sprintf("merges[%d].primary", i)
			if j > 0 {
				field = fmt.Sprintf("merges[%d].members[%d]", i, j-1)
			}
			if strings.TrimSpace(mem.Source) == "" || strings.TrimSpace(mem.LegacyID) == "" {
				return fmt.Errorf("%s: source and legacyId are both required", field)
			}
			if prev, dup := seen[mem.Key()]; dup {
				return fmt.Errorf("%s: account %s/%s is already in merges[%d]; an account joins one merge at most", field, mem.Source, mem.LegacyID, prev)
			}
			seen[mem.Key()] = i
		}
	}
	return nil
}

// Accepted returns the accepted merges by the key of every account in them (primary and members).
func (p *Plan) Accepted() map[idshift.Key]*Merge {
	idx := make(map[idshift.Key]*Merge)
	for i := range p.Merges {
		m := &p.Merges[i]
		if !m.Accept {
			continue
		}
		idx[m.Primary.Key()] = m
		for _, mem := range m.Members {
			idx[mem.Key()] = m
		}
	}
	return idx
}

// Decode reads and validates a plan. Unknown fields are refused, so that a misspelt "accept" is not silently
// ignored.
func Decode(r io.Reader) (*Plan, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not a plan: JSON syntax error at byte %d: %v", se.Offset, err)
		}
		return nil, fmt.Errorf("not a plan: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a plan: more than one JSON value")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Read reads and validates the plan file at path; errors name the file.
func Read(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Write writes the plan to path (mode 0600), never over an existing file: a plan may hold the operator's edits.
func Write(path string, p *Plan) error {
	if err := p.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
