package source

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// unixMillisFrom is where an integer stops being unix seconds (year 5138) and is read as unix milliseconds.
const unixMillisFrom = 100_000_000_000

var errTime = errors.New("not a date or time (RFC 3339, 2006-01-02, 2006-01-02 15:04:05 or unix seconds)")

// ParseTime parses a timestamp as the mapping does: RFC 3339, 2006-01-02T15:04:05 (UTC), 2006-01-02 15:04:05 (UTC,
// optionally with a zone), 2006-01-02, or unix time (an integer; seconds, or milliseconds from 10^11 on). The
// result is in UTC.
func ParseTime(s string) (time.Time, error) { return parseTime(s) }

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errTime
	}
	if digits := strings.TrimPrefix(s, "-"); digits != "" && strings.Trim(digits, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, errTime
		}
		if n >= unixMillisFrom || n <= -unixMillisFrom {
			return time.UnixMilli(n).UTC(), nil
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if t, ok := parseISO(s); ok {
		return t, nil
	}
	return time.Time{}, errTime
}

// parseISO parses YYYY-MM-DD, optionally followed by T or a space, hh:mm:ss, a fraction of 1 to 9 digits, and Z or
// ±hh:mm (±hhmm); the forms of timeLayouts, without time.Parse's cost of trying each layout in turn.
func parseISO(s string) (time.Time, bool) {
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return time.Time{}, false
	}
	if len(s) == 10 {
		return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), true
	}
	if s[10] != 'T' && s[10] != ' ' {
		return time.Time{}, false
	}
	hour, ok1 := num(11, 2)
	minute, ok2 := num(14, 2)
	sec, ok3 := num(17, 2)
	if !ok1 || !ok2 || !ok3 || s[13] != ':' || s[16] != ':' || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i, nsec := 19, 0
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		digits := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if digits < 9 {
				nsec = nsec*10 + int(s[i]-'0')
			}
			digits++
			i++
		}
		if digits == 0 || digits > 9 {
			return time.Time{}, false
		}
		for ; digits < 9; digits++ {
			nsec *= 10
		}
	}
	offset := 0
	switch rest := s[i:]; {
	case rest == "", rest == "Z", rest == "z":
	case len(rest) == 6 && rest[3] == ':', len(rest) == 5:
		if rest[0] != '+' && rest[0] != '-' {
			return time.Time{}, false
		}
		hh, ok1 := num(i+1, 2)
		mm, ok2 := num(len(s)-2, 2)
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = (hh*60 + mm) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

var errBool = errors.New("not a boolean (true/false, yes/no, 1/0)")

func parseBool(s string) (bool, error) {
	for _, t := range [...]string{"true", "1", "yes", "y", "t", "on"} {
		if strings.EqualFold(s, t) {
			return true, nil
		}
	}
	for _, f := range [...]string{"false", "0", "no", "n", "f", "off"} {
		if strings.EqualFold(s, f) {
			return false, nil
		}
	}
	return false, errBool
}

var errInt = errors.New("not a 32-bit integer")

func parseInt32(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, errInt
	}
	return n, nil
}

// E164 normalises a phone number to E.164 as the e164 transform does, with cc the default country calling code
// (digits) for national numbers. See e164.
func E164(s, cc string) (string, error) {
	p, reason := e164(s, cc)
	if reason != "" {
		return "", errors.New(reason)
	}
	return p, nil
}

// e164 strips spaces, dashes, dots, slashes and parentheses (and a "(0)" after an international prefix), turns a
// leading 00 into +, replaces the national trunk prefix 0 with the default country code, and prefixes the default
// country code to a number without any prefix. The result is + and 7 to 15 digits. It returns a reason on failure.
func e164(s, cc string) (string, string) {
	s = strings.TrimSpace(s)
	intl := strings.HasPrefix(s, "+") || strings.HasPrefix(s, "00")
	if intl {
		s = strings.Replace(s, "(0)", "", 1)
	}
	buf := make([]byte, 0, len(s)+len(cc))
	plus := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			buf = append(buf, c)
		case c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')' || c == '\t':
		case c == '+' && len(buf) == 0 && !plus:
			plus = true
		default:
			return "", "not a phone number"
		}
	}
	d := string(buf)
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case cc == "":
		return "", "national phone number and no default country code"
	case strings.HasPrefix(d, "0"):
		d = cc + d[1:]
	default:
		d = cc + d
	}
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", "not an E.164 phone number (7 to 15 digits with the country code)"
	}
	return "+" + d, ""
}
