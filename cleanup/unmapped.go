package cleanup

import (
	"strings"

	"github.com/idshift/idshift"
)

// UnmappedPrefix starts the attribute names under which the report counts and flags the values a mapping leaves
// out (User.Unmapped): "unmapped.user_metadata.plan".
const UnmappedPrefix = "unmapped."

// scanUnmapped records the fill of every unmapped attribute of u (once per user, however many values a list
// gives it) and flags its sensitive names and values as scan does for mapped ones.
func (a *Auditor) scanUnmapped(u *idshift.User) {
	if len(u.Unmapped) == 0 {
		return
	}
	if a.unmapped == nil {
		a.unmapped = map[string]bool{}
	}
	clear(a.unmapped)
	for _, at := range u.Unmapped {
		if strings.TrimSpace(at.Value) == "" {
			continue
		}
		attr := UnmappedPrefix + at.Name
		if !a.unmapped[at.Name] {
			a.unmapped[at.Name] = true
			a.count(attr)
			if kind, ok := a.sensitiveName(at.Name); ok {
				a.flag(attr, kind, "", u)
			}
		}
		a.check(attr, at.Value, u)
	}
}

// sensitiveName is SensitiveName, remembered for up to maxKeys names.
func (a *Auditor) sensitiveName(name string) (string, bool) {
	if k, ok := a.kinds[name]; ok {
		return k, k != ""
	}
	k, _ := SensitiveName(name)
	if a.kinds == nil {
		a.kinds = map[string]string{}
	}
	if len(a.kinds) < maxKeys {
		a.kinds[name] = k
	}
	return k, k != ""
}

// scanned says what the scan for data not to store read.
func scanned(unmapped bool) string {
	const mapped = "every value a reader maps into a user (identities, names, mail, otherMails, phone, extensions)"
	if unmapped {
		return mapped + " and every value it leaves out (columns and keys no mapping reads, as unmapped.*)"
	}
	return mapped + "; the values a mapping leaves out were not exposed by the readers and were not scanned"
}
