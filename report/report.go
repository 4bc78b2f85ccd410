// Package report reads where a migration stands: the tenant's migration flags joined with the state store.
//
// Entra External ID clears a user's migration flag itself when the user signs in with the password the tenant
// already holds (the random one the import set), without calling the password-migration service
// (docs/contracts.md §1.1), so the store alone cannot tell who is migrated: Read lists the tenant's users (through
// the Tenant interface, which cmd/idshift implements over Microsoft Graph, paced like the import) and joins each
// with its record. Without a Tenant it reports what the store knows.
//
// Example:
//
//	st, err := report.Read(ctx, report.Config{Store: store, Tenant: lister})
//	if err != nil { ... }
//	st.WriteText(os.Stdout)
package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/store"
)

// TenantUser is one user as the tenant lists it, with the migration's extension attributes.
type TenantUser struct {
	ObjectID string `json:"objectId"`
	// LegacyID is the legacy-id extension attribute (empty on accounts idshift did not create).
	LegacyID string `json:"legacyId,omitempty"`
	// Flagged is the migration flag: true while the user's password is still to migrate.
	Flagged bool `json:"-"`
	// SignInNames are the user's local sign-in names (issuerAssignedId of emailAddress and userName identities).
	SignInNames []string `json:"signInNames,omitempty"`
}

// Tenant lists the tenant's users. Implementations page through the directory and pace their reads.
type Tenant interface {
	// Users calls fn for every user of the tenant. An error from fn stops the listing and is returned.
	Users(ctx context.Context, fn func(TenantUser) error) error
}

// Config configures Read. Store is required; the zero value of every other field is usable.
type Config struct {
	Store idshift.Store
	// Tenant is the tenant to read the flags from; nil reads the store only (offline).
	Tenant Tenant
	// Since bounds the attempts counted (zero: all of them).
	Since time.Time
	// SkipCredentials leaves Status.Credentials at -1 instead of counting the legacy credentials, which walks
	// every credential key: for a page read again every few seconds (serve's dashboard).
	SkipCredentials bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Status is where the migration stands. Fields a store cannot give (it does not record attempts) are empty.
type Status struct {
	At      time.Time `json:"at"`
	Offline bool      `json:"offline"`
	// Records counts the store's records by state; RecordsTotal is their sum.
	Records      map[idshift.State]int64 `json:"records"`
	RecordsTotal int64                   `json:"recordsTotal"`
	// Credentials is the number of legacy credentials the store still holds (-1 when it cannot list them or
	// Config.SkipCredentials).
	Credentials int64 `json:"credentials"`
	// MigratedByHow counts the migrations the service recorded, by how ("hash", "live:<name>", "tenant").
	MigratedByHow map[string]int64 `json:"migratedByHow,omitempty"`
	// Attempts are the password checks recorded by the service, by front, action and reason; Days by UTC day.
	Attempts []idshift.AttemptCount `json:"attempts,omitempty"`
	Days     []store.DayCount       `json:"days,omitempty"`
	// Blocks is the number of attempts answered Block (guard locks and accounts disabled in the legacy system).
	Blocks int64 `json:"blocks"`
	// Tenant is the join with the tenant; nil offline.
	Tenant *TenantFigures `json:"tenant,omitempty"`
}

// TenantFigures is the tenant's side of Status. Every user listed lands in exactly one of the counts after
// Listed: Listed = Pending + MigratedByService + MigratedInTenant + ToReset + RecordedStillFlagged + NotInStore +
// Others.
type TenantFigures struct {
	Listed int64 `json:"listed"`
	// Pending: the flag is still set; the password is still to migrate.
	Pending int64 `json:"pending"`
	// MigratedByService: the flag is cleared and the service recorded the migration (state migrated).
	MigratedByService int64 `json:"migratedByService"`
	// MigratedInTenant: the flag is cleared but the service recorded nothing, and the store holds a legacy
	// credential: Entra migrated the user without a callout (the user typed the password the tenant held).
	MigratedInTenant int64 `json:"migratedInTenant"`
	// ToReset: never flagged or cleared, no legacy credential and no recorded migration: users the import
	// created without the flag (no hash, no live check), who set a password by self-service password reset.
	ToReset int64 `json:"toReset"`
	// RecordedStillFlagged: the service recorded a migration but the flag is still set (the tenant did not
	// apply the answer); such users are asked again at their next sign-in.
	RecordedStillFlagged int64 `json:"recordedStillFlagged"`
	// NotInStore: accounts with a legacy id that no record of this store knows (another store's import).
	NotInStore int64 `json:"notInStore"`
	// Others: accounts without a legacy id (not created by idshift: administrators, users who signed up).
	Others int64 `json:"others"`
	// MissingFromTenant: records with an object id in the store whose object the tenant did not list (deleted
	// since).
	MissingFromTenant int64 `json:"missingFromTenant"`
}

// Reconciles reports whether every listed user was counted exactly once.
func (t *TenantFigures) Reconciles() bool {
	return t.Listed == t.Pending+t.MigratedByService+t.MigratedInTenant+t.ToReset+t.RecordedStillFlagged+t.NotInStore+t.Others
}

// Read reads the figures. The tenant is read once, user by user, each joined with its record by object id
// (memory stays flat in the number of users). It returns the first error of the store or the tenant.
func Read(ctx context.Context, cfg Config) (*Status, error) {
	if cfg.Store == nil {
		return nil, idshift.Invalid("store", "required")
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	st := &Status{At: now().UTC(), Offline: cfg.Tenant == nil, Credentials: -1}
	counts, err := cfg.Store.Counts(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: record counts: %w", err)
	}
	st.Records = counts
	for _, n := range counts {
		st.RecordsTotal += n
	}
	if cl, ok := cfg.Store.(store.CredentialLister); ok && !cfg.SkipCredentials {
		st.Credentials = 0
		if err := cl.CredentialKeys(ctx, func(idshift.Key) error { st.Credentials++; return nil }); err != nil {
			return nil, fmt.Errorf("report: credentials: %w", err)
		}
	}
	if as, ok := cfg.Store.(idshift.AttemptStore); ok {
		if st.Attempts, err = as.AttemptCounts(ctx, cfg.Since); err != nil {
			return nil, fmt.Errorf("report: attempts: %w", err)
		}
		for _, a := range st.Attempts {
			if a.Action == idshift.ActionBlock {
				st.Blocks += a.N
			}
		}
	}
	if pr, ok := cfg.Store.(store.ProgressReader); ok {
		if st.Days, err = pr.AttemptsByDay(ctx, cfg.Since); err != nil {
			return nil, fmt.Errorf("report: attempts by day: %w", err)
		}
		if st.MigratedByHow, err = pr.MigratedByHow(ctx); err != nil {
			return nil, fmt.Errorf("report: migrations: %w", err)
		}
		st.MigratedByHow = foldMerged(st.MigratedByHow)
	}
	if cfg.Tenant == nil {
		return st, nil
	}
	tf := &TenantFigures{}
	var matched int64
	err = cfg.Tenant.Users(ctx, func(u TenantUser) error {
		tf.Listed++
		rec, err := cfg.Store.RecordByObjectID(ctx, u.ObjectID)
		switch {
		case idshift.ErrorCode(err) == idshift.ENOTFOUND:
			if u.LegacyID == "" {
				tf.Others++
			} else {
				tf.NotInStore++
			}
			return nil
		case err != nil:
			return fmt.Errorf("record of %s: %w", u.ObjectID, err)
		}
		matched++
		migrated := rec.State == idshift.StateMigrated
		switch {
		case u.Flagged && migrated:
			tf.RecordedStillFlagged++
		case u.Flagged:
			tf.Pending++
		case migrated:
			tf.MigratedByService++
		default:
			has, err := hasCredential(ctx, cfg.Store, rec.Key)
			if err != nil {
				return err
			}
			if has {
				tf.MigratedInTenant++
			} else {
				tf.ToReset++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: tenant: %w", err)
	}
	var withObject int64
	err = cfg.Store.Scan(ctx, []idshift.State{idshift.StateCreated, idshift.StateAdopted, idshift.StateMigrated}, func(r *idshift.Record) error {
		if r.ObjectID != "" {
			withObject++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: records: %w", err)
	}
	tf.MissingFromTenant = max(withObject-matched, 0)
	st.Tenant = tf
	return st, nil
}

// foldMerged counts the migrations of merged accounts, recorded as "hash:<source>/<legacyId>" (or "harvest:…")
// with the key of the account whose credential matched, under "hash (merged account)" (or "harvest (merged
// account)"), so that the figures have one line per way, not one per account.
func foldMerged(by map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(by))
	for how, n := range by {
		for _, p := range []string{"hash", "harvest"} {
			if strings.HasPrefix(how, p+":") {
				how = p + " (merged account)"
			}
		}
		out[how] += n
	}
	return out
}

// hasCredential reports whether the store holds a legacy credential for key. A credential the store cannot open
// (sealed with a key not configured) still counts as held.
func hasCredential(ctx context.Context, st idshift.Store, key idshift.Key) (bool, error) {
	_, err := st.Credential(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case idshift.ErrorCode(err) == idshift.ENOTFOUND:
		return false, nil
	case errors.Is(err, store.ErrSealed), errors.Is(err, store.ErrWrongKey):
		return true, nil
	}
	return false, fmt.Errorf("credential of %s/%s: %w", key.Source, key.LegacyID, err)
}

// WriteText writes the figures as aligned lines. It returns the first write error.
func (s *Status) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	var rows [][2]string
	add := func(label string, n int64, note string) {
		v := fmt.Sprint(n)
		if note != "" {
			v += "  (" + note + ")"
		}
		rows = append(rows, [2]string{label, v})
	}
	if t := s.Tenant; t != nil {
		fmt.Fprintf(ew, "tenant: %d users listed\n", t.Listed)
		add("to migrate", t.Pending, "migration flag still set")
		add("migrated by idshift serve", t.MigratedByService, "recorded in the store")
		add("migrated in the tenant without a callout", t.MigratedInTenant, "the flag was cleared by Entra: the user typed the password the tenant held")
		add("to reset", t.ToReset, "created without the flag: no legacy hash and no live check")
		add("recorded migrated, still flagged", t.RecordedStillFlagged, "")
		add("legacy id unknown to this store", t.NotInStore, "")
		add("not created by idshift", t.Others, "")
		add("records missing from the tenant", t.MissingFromTenant, "deleted since the import")
		writeRows(ew, rows)
		done := t.MigratedByService + t.MigratedInTenant
		if all := done + t.Pending + t.RecordedStillFlagged; all > 0 {
			fmt.Fprintf(ew, "  migrated %d of %d flagged users (%.1f%%)\n", done, all, 100*float64(done)/float64(all))
		}
		check := "reconciles"
		if !t.Reconciles() {
			check = "DOES NOT RECONCILE"
		}
		fmt.Fprintf(ew, "  listed = every line above but the last: %s\n", check)
		rows = nil
	} else {
		fmt.Fprintln(ew, "offline: the store only (users Entra migrated without a callout are not counted)")
	}
	fmt.Fprintf(ew, "store: %d records\n", s.RecordsTotal)
	states := make([]string, 0, len(s.Records))
	for k := range s.Records {
		states = append(states, string(k))
	}
	sort.Strings(states)
	for _, k := range states {
		add(k, s.Records[idshift.State(k)], "")
	}
	if s.Credentials >= 0 {
		add("legacy credentials held", s.Credentials, "")
	}
	hows := make([]string, 0, len(s.MigratedByHow))
	for k := range s.MigratedByHow {
		hows = append(hows, k)
	}
	sort.Strings(hows)
	for _, k := range hows {
		add("migrated by "+k, s.MigratedByHow[k], "")
	}
	writeRows(ew, rows)
	rows = nil
	if len(s.Attempts) > 0 {
		fmt.Fprintf(ew, "attempts (front, action, reason): %d blocked\n", s.Blocks)
		for _, a := range s.Attempts {
			label := a.Front + " " + string(a.Action)
			if a.Reason != "" {
				label += " " + a.Reason
			}
			add(label, a.N, "")
		}
		writeRows(ew, rows)
		rows = nil
	}
	if len(s.Days) > 0 {
		fmt.Fprintln(ew, "attempts by day (UTC):")
		for _, d := range s.Days {
			add(d.Day+" "+d.Front+" "+string(d.Action), d.N, "")
		}
		writeRows(ew, rows)
	}
	return ew.err
}

func writeRows(w io.Writer, rows [][2]string) {
	lw := 0
	for _, r := range rows {
		lw = max(lw, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", lw, r[0], strings.TrimRight(r[1], " "))
	}
}

// errWriter remembers the first write error and writes nothing after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
