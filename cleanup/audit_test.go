package cleanup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/idshift/idshift"
	"github.com/idshift/idshift/cleanup"
)

// sliceSource reads users from a slice; a nil entry is a malformed record.
type sliceSource struct {
	users []*idshift.User
	i     int
}

func (s *sliceSource) Next(context.Context) (*idshift.User, error) {
	if s.i >= len(s.users) {
		return nil, io.EOF
	}
	s.i++
	u := s.users[s.i-1]
	if u == nil {
		return nil, &idshift.RowError{Line: int64(s.i), Field: "email", Reason: `bad value "secret-ish"`}
	}
	u.Line = int64(s.i)
	return u, nil
}

func (s *sliceSource) Close() error { return nil }

var _ idshift.Source = (*sliceSource)(nil)

const (
	bcryptHash = "$2b$10$y2Lt5R/PjpNSCgpM6/uNTull/VLdy7T0.8AhRALUeQ7w/odh4asem"
	md5Hash    = "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0"
)

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func user(id, email string, cred idshift.Credential) *idshift.User {
	return &idshift.User{LegacyID: id, DisplayName: "User " + id, LastSignIn: now.AddDate(0, -1, 0),
		Identities: []idshift.Identity{{SignInType: idshift.SignInEmail, IssuerAssignedID: email}}, Credential: cred}
}

func hash(h string) idshift.Credential {
	return idshift.Credential{Kind: idshift.CredentialHash, Hash: h}
}

// fixture is two sources: a shop and a forum that share two customers.
func fixture() []cleanup.NamedSource {
	shop := []*idshift.User{
		user("s1", "alice@example.com", hash(bcryptHash)),
		user("s2", "bob@example.com", hash(bcryptHash)),
		user("s3", "carol@example.com", idshift.Credential{}),
		user("s4", "Alice@Example.com", hash(bcryptHash)), // same source: a duplicate the importer rejects
		user("s5", "not-an-email", hash(bcryptHash)),      // rejected
		nil, // unreadable
	}
	shop[1].Phone = "4111 1111 1111 1111" // a card number in the phone field
	shop[2].Extensions = map[string]any{"bloodType": "A+", "note": "ssn 123-45-6789", "tier": "gold"}
	shop[2].LastSignIn = time.Time{}
	shop[0].PrivacyPolicy = &idshift.Consent{Version: "v2", AcceptedAt: now}
	shop[1].TermsOfUse = &idshift.Consent{Version: "v1"}
	forum := []*idshift.User{
		user("f1", "bob@example.com", hash(md5Hash)),                                                           // merge, guarded by the fast hash
		user("f2", "carol@example.com", idshift.Credential{Kind: idshift.CredentialPlaintext, Password: "pw"}), // merge with no credential
		user("f3", "dave@example.com", hash("not a hash")),
	}
	forum[2].Disabled = true
	forum[0].LastSignIn = now.AddDate(-3, 0, 0)
	return []cleanup.NamedSource{{Name: "shop", Source: &sliceSource{users: shop}}, {Name: "forum", Source: &sliceSource{users: forum}}}
}

func runFixture(t *testing.T, rule cleanup.MergeRule) *cleanup.Report {
	t.Helper()
	rep, err := cleanup.Run(context.Background(), cleanup.Config{Now: func() time.Time { return now }, Rule: rule, TempDir: t.TempDir()}, fixture())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAudit(t *testing.T) {
	{
		{
			rep := runFixture(t, cleanup.RuleEmail)
			o := rep.Outcomes
			if o.Users != 8 || o.Unreadable != 1 || o.Valid != 6 || o.Rejected != 2 {
				t.Errorf("outcomes %+v", o)
			}
			if len(rep.Sources) != 2 || rep.Sources[0].Read != 6 || rep.Sources[1].Valid != 2 || rep.Sources[1].Rejected != 1 {
				t.Errorf("sources %+v", rep.Sources)
			}
			d := rep.Duplicates
			if d.WithinSource != 1 || d.AcrossSources != 2 || d.LegacyIDs != 0 || d.Proposed != 2 || d.Accounts != 4 || d.Rule != "email" {
				t.Errorf("duplicates %+v", d)
			}
			if len(d.WithinSamples) != 1 || d.WithinSamples[0].Primary.LegacyID != "s1" || d.WithinSamples[0].Members[0].LegacyID != "s4" ||
				d.WithinSamples[0].Evidence != "same email a***@example.com" {
				t.Errorf("within-source samples %+v", d.WithinSamples)
			}
			if d.ByWeakest["fast hash"] != 1 || d.ByWeakest["no credential"] != 1 || len(d.ByWeakest) != 2 {
				t.Errorf("by weakest %v", d.ByWeakest)
			}
			if len(d.Merges) != 2 || d.Merges[0].Primary.LegacyID != "s2" || d.Merges[1].Primary.LegacyID != "s3" {
				t.Fatalf("merges %+v", d.Merges)
			}
			bob := d.Merges[0]
			if bob.Primary.Source != "shop" || bob.Primary.Line != 2 || len(bob.Members) != 1 || bob.Members[0].Source != "forum" || bob.Members[0].Line != 1 ||
				bob.Members[0].LegacyID != "f1" || bob.Primary.Guard != cleanup.StrengthSlowHash || bob.Members[0].Guard != cleanup.StrengthFastHash ||
				bob.Guard != cleanup.StrengthFastHash || bob.Evidence != "same email b***@example.com" {
				t.Errorf("merge of bob %+v", bob)
			}
			st := rep.Stale
			if st.Disabled.Count != 1 || st.NeverSignedIn.Count != 1 || st.LastSignInOld.Count != 1 || st.Total != 3 {
				t.Errorf("stale %+v", st)
			}
			if st.Disabled.Samples[0].LegacyID != "f3" || st.NeverSignedIn.Samples[0].LegacyID != "s3" {
				t.Errorf("stale samples %+v", st)
			}
			flags := map[string]int64{}
			for _, f := range rep.Sensitive {
				flags[f.Attribute+"/"+f.Kind] = f.Count
			}
			want := map[string]int64{"phone/payment card number": 1, "extensions.note/US social security number": 1, "extensions.bloodType/medical-looking name": 1}
			if len(flags) != len(want) {
				t.Errorf("flags %v", flags)
			}
			for k, n := range want {
				if flags[k] != n {
					t.Errorf("flag %s = %d, want %d", k, flags[k], n)
				}
			}
			fill := map[string]int64{}
			for _, f := range rep.Fill {
				fill[f.Attribute] = f.Filled
				if f.Attribute == "phone" && f.Rate != 1.0/8 {
					t.Errorf("phone fill rate %v", f.Rate)
				}
			}
			if fill["identities.emailAddress"] != 8 || fill["phone"] != 1 || fill["extensions.tier"] != 1 || fill["password"] != 7 || fill["lastSignIn"] != 7 {
				t.Errorf("fill %v", fill)
			}
			if c := rep.Consent; c.PrivacyPolicy != 1 || c.PrivacyPolicyDated != 1 || c.TermsOfUse != 1 || c.TermsOfUseDated != 0 {
				t.Errorf("consent %+v", c)
			}
			pw := rep.Passwords
			if pw.Usable != 5 || pw.Plaintext != 1 || pw.NeedReset != 1 || pw.Unknown != 1 || pw.LiveCheck != 0 {
				t.Errorf("passwords %+v", pw)
			}
			// 6 valid (an unknown hash is rejected, as the importer does), less 3 duplicates: 3 accounts to create
			// at 20 writes a second.
			if rep.Duration.Creates != 3 || rep.Duration.Seconds != 0.15 {
				t.Errorf("duration %+v", rep.Duration)
			}
			b, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{"4111 1111 1111 1111", "4111111111111111", "123-45-6789", bcryptHash, md5Hash, "secret-ish", "alice@", "bob@"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("the report shows %q", secret)
				}
			}
		}
	}
}

func TestLiveCheckAndSamples(t *testing.T) {
	rep, err := cleanup.Run(context.Background(), cleanup.Config{Now: func() time.Time { return now }, LiveCheck: true, Samples: 1, Merges: 1, Rule: cleanup.RuleEmail}, fixture())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passwords.LiveCheck != 1 || rep.Passwords.NeedReset != 0 {
		t.Errorf("passwords %+v", rep.Passwords)
	}
	if len(rep.Duplicates.Merges) != 1 {
		t.Errorf("merges listed %d, want 1", len(rep.Duplicates.Merges))
	}
}

func TestSourceError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := cleanup.Run(context.Background(), cleanup.Config{}, []cleanup.NamedSource{{Name: "x", Source: errSource{boom}}})
	if !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
}

type errSource struct{ err error }

func (e errSource) Next(context.Context) (*idshift.User, error) { return nil, e.err }
func (e errSource) Close() error                                { return nil }

func TestReportOutputs(t *testing.T) {
	rep := runFixture(t, cleanup.RuleEmail)
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"guarded by fast hash", "payment card number", "************1111", "need a reset"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, banned := range []string{"<script", "http://", "https://", "<link", "src="} {
		if banned == "http://" {
			html = strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, "")
		}
		if strings.Contains(html, banned) {
			t.Errorf("the page is not self-contained: %q", banned)
		}
	}
	// Well-formed: every element closed and nested, as a strict XML parser reads it.
	dec := xml.NewDecoder(strings.NewReader(page.String()))
	dec.Strict = true
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("HTML not well-formed: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok {
			counts[s.Name.Local]++
		}
	}
	if counts["html"] != 1 || counts["table"] < 6 || counts["svg"] != 3 || counts["rect"] < 3 {
		t.Errorf("page structure %v", counts)
	}
}
