package cleanup

import (
	"strings"
	"time"
)

// Luhn reports whether digits (ASCII digits only) pass the Luhn check. An empty string does not.
func Luhn(digits string) bool {
	if digits == "" {
		return false
	}
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// FindCard returns the digits of the first payment card number in s: a run of 13 to 19 digits, optionally grouped
// by single spaces or dashes, not touching other digits, that passes the Luhn check. ok is false when there is none.
func FindCard(s string) (digits string, ok bool) {
	if countDigits(s) < 13 {
		return "", false
	}
	var buf [19]byte
	for i := 0; i < len(s); {
		if !isDigit(s[i]) || i > 0 && isDigit(s[i-1]) {
			i++
			continue
		}
		n := 0
		j := i
		overflow := false
		for j < len(s) {
			if isDigit(s[j]) {
				if n < len(buf) {
					buf[n] = s[j]
				} else {
					overflow = true
				}
				n++
				j++
				continue
			}
			if (s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) && j > i {
				j++
				continue
			}
			break
		}
		if !overflow && n >= 13 && n <= 19 && Luhn(string(buf[:n])) {
			return string(buf[:n]), true
		}
		i = j
	}
	return "", false
}

// FindSSN returns the first US social security number in s: ddd-dd-dddd not touching other digits, with the
// numbers the Social Security Administration never issues excluded (area 000, 666 or 900–999, group 00, serial
// 0000). ok is false when there is none.
func FindSSN(s string) (ssn string, ok bool) {
	if len(s) < 11 || strings.IndexByte(s, '-') < 0 {
		return "", false
	}
	for i := 0; i+11 <= len(s); i++ {
		c := s[i : i+11]
		if c[3] != '-' || c[6] != '-' || !allDigits(c[:3]) || !allDigits(c[4:6]) || !allDigits(c[7:]) {
			continue
		}
		if i > 0 && isDigit(s[i-1]) || i+11 < len(s) && isDigit(s[i+11]) {
			continue
		}
		if ValidSSN(c) {
			return c, true
		}
	}
	return "", false
}

// ValidSSN reports whether ssn, in the form ddd-dd-dddd, lies in the issued ranges: area not 000, 666 or 900–999;
// group not 00; serial not 0000.
func ValidSSN(ssn string) bool {
	if len(ssn) != 11 || ssn[3] != '-' || ssn[6] != '-' || !allDigits(ssn[:3]) || !allDigits(ssn[4:6]) || !allDigits(ssn[7:]) {
		return false
	}
	area := ssn[:3]
	return area != "000" && area != "666" && area[0] != '9' && ssn[4:6] != "00" && ssn[7:] != "0000"
}

// medicalWords are the name fragments that make an attribute look medical (or similarly sensitive: health,
// disability, religion and the like), whatever its values.
var medicalWords = []string{
	"medical", "medic", "health", "diagnos", "disease", "illness", "allerg", "prescription", "medication", "patient",
	"blood", "icd10", "icd9", "disabilit", "pregnan", "hiv", "vaccin", "symptom", "treatment", "therapy", "mental",
	"religion", "ethnic", "sexual", "biometric",
}

// MedicalName reports whether an attribute name looks medical or similarly sensitive ("bloodType",
// "diagnosis_code", "HealthPlan"). The match is on lowercase letters and digits only, so separators do not matter.
func MedicalName(name string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	n := b.String()
	for _, w := range medicalWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Kinds of data that must not be stored, as findings and rejections name them.
const (
	KindCard        = "payment card number"
	KindSSN         = "US social security number"
	KindMedicalName = "medical-looking name"
	KindIDName      = "national-id-looking name"
	KindCardName    = "card-looking name"
)

// idWords and cardWords make an attribute name look like a national identifier or a payment card when the
// lowercase letters and digits of the name contain one; idTokens and cardTokens when a word of the name (split at
// separators and lower-to-upper case changes) is one or starts with one ("SSN", "user_ssn", "ssnLast4").
var (
	idWords    = []string{"socialsecurity", "nationalid", "nationalidentity", "nationalinsurance", "passport", "driverslicen", "driverlicen", "taxpayerid", "personalnumber", "personnummer"}
	idTokens   = []string{"ssn", "nin", "sin", "tin", "itin"}
	cardWords  = []string{"creditcard", "debitcard", "paymentcard", "cardnumber", "cardno", "ccnumber", "cardholder", "cardexpir", "cardverification"}
	cardTokens = []string{"cvv", "cvc", "cvv2", "cvc2", "pan"}
)

// SensitiveName reports whether an attribute name looks medical (MedicalName), like a national identifier (ssn,
// socialSecurityNumber, passport_no) or like a payment card (creditCard, card_number, cvv), and which kind
// (KindMedicalName, KindIDName, KindCardName). The test is on the name alone, whatever the values.
func SensitiveName(name string) (kind string, ok bool) {
	if MedicalName(name) {
		return KindMedicalName, true
	}
	var b strings.Builder
	var tokens []string
	start := 0
	rs := []rune(name)
	flush := func(end int) {
		if end > start {
			tokens = append(tokens, strings.ToLower(string(rs[start:end])))
		}
	}
	for i, r := range rs {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		switch {
		case !alnum:
			flush(i)
			start = i + 1
			continue
		case i > 0 && r >= 'A' && r <= 'Z' && rs[i-1] >= 'a' && rs[i-1] <= 'z':
			flush(i)
			start = i
		}
		b.WriteRune(r)
	}
	flush(len(rs))
	n := strings.ToLower(b.String())
	has := func(words, toks []string) bool {
		for _, w := range words {
			if strings.Contains(n, w) {
				return true
			}
		}
		for _, t := range tokens {
			for _, w := range toks {
				if t == w || len(w) >= 3 && strings.HasPrefix(t, w) && !isLetterAfter(t, len(w)) {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has(idWords, idTokens):
		return KindIDName, true
	case has(cardWords, cardTokens):
		return KindCardName, true
	}
	return "", false
}

// isLetterAfter reports whether t has a lowercase letter at i ("ssnumber" is not "ssn" + something).
func isLetterAfter(t string, i int) bool { return i < len(t) && t[i] >= 'a' && t[i] <= 'z' }

// SensitiveValue reports whether v holds a payment card number (FindCard) or a US social security number
// (FindSSN): the kind (KindCard or KindSSN) and the value masked (MaskCard, MaskSSN). kind is "" when it holds
// neither.
func SensitiveValue(v string) (kind, masked string) {
	if len(v) < 11 {
		return "", ""
	}
	if d, ok := FindCard(v); ok {
		return KindCard, MaskCard(d)
	}
	if s, ok := FindSSN(v); ok {
		return KindSSN, MaskSSN(s)
	}
	return "", ""
}

// Staleness is why an account is stale.
type Staleness string

// The reasons an account is stale; the first that applies wins, in this order.
const (
	NotStale      Staleness = ""
	StaleDisabled Staleness = "disabled"
	StaleNever    Staleness = "never signed in"
	StaleOld      Staleness = "last sign-in too old"
)

// Stale classifies an account: disabled in the legacy system, never signed in (no last sign-in), or last signed in
// before now minus after. after <= 0 leaves the last sign-in's age out.
func Stale(disabled bool, lastSignIn, now time.Time, after time.Duration) Staleness {
	switch {
	case disabled:
		return StaleDisabled
	case lastSignIn.IsZero():
		return StaleNever
	case after > 0 && lastSignIn.Before(now.Add(-after)):
		return StaleOld
	}
	return NotStale
}

// MaskCard shows only the last four digits of a card number.
func MaskCard(digits string) string {
	if len(digits) <= 4 {
		return strings.Repeat("*", len(digits))
	}
	return strings.Repeat("*", len(digits)-4) + digits[len(digits)-4:]
}

// MaskSSN hides every digit of a social security number.
func MaskSSN(string) string { return "***-**-****" }

// MaskEmail keeps the first character of the local part and the domain: "a***@example.com".
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at <= 0 {
		if e == "" {
			return ""
		}
		return e[:1] + "***"
	}
	return e[:1] + "***" + e[at:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	return n
}
