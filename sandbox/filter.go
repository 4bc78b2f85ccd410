package sandbox

import (
	"encoding/json"
	"strings"
)

// filter is a parsed $filter over user properties.
type filter interface {
	match(props map[string]any) bool
}

type filterError struct {
	msg         string
	unsupported bool // valid OData the sandbox (or Graph without advanced queries) does not support
}

type (
	andFilter struct{ a, b filter }
	orFilter  struct{ a, b filter }
	eqFilter  struct {
		prop string
		val  any // string, bool, json.Number or nil
	}
	inFilter struct {
		prop string
		vals []any
	}
	startsFilter struct{ prop, prefix string }
	// identityFilter is identities/any(c:c/issuerAssignedId eq '…' and c/issuer eq '…').
	identityFilter struct{ issuer, assigned, signInType string }
)

func (f andFilter) match(p map[string]any) bool { return f.a.match(p) && f.b.match(p) }
func (f orFilter) match(p map[string]any) bool  { return f.a.match(p) || f.b.match(p) }

func equalValue(have, want any) bool {
	switch w := want.(type) {
	case nil:
		return have == nil
	case string:
		h, ok := have.(string)
		return ok && strings.EqualFold(h, w)
	case bool:
		h, ok := have.(bool)
		return ok && h == w
	case json.Number:
		h, ok := have.(json.Number)
		return ok && h.String() == w.String()
	}
	return false
}

func (f eqFilter) match(p map[string]any) bool {
	v := p[f.prop]
	if list, ok := v.([]any); ok { // collections of strings: any value equal
		for _, e := range list {
			if equalValue(e, f.val) {
				return true
			}
		}
		return false
	}
	return equalValue(v, f.val)
}

func (f inFilter) match(p map[string]any) bool {
	for _, v := range f.vals {
		if (eqFilter{f.prop, v}).match(p) {
			return true
		}
	}
	return false
}

func (f startsFilter) match(p map[string]any) bool {
	s, ok := p[f.prop].(string)
	return ok && len(s) >= len(f.prefix) && strings.EqualFold(s[:len(f.prefix)], f.prefix)
}

func (f identityFilter) match(p map[string]any) bool {
	for _, id := range identitiesOf(p) {
		iss, _ := id["issuer"].(string)
		ass, _ := id["issuerAssignedId"].(string)
		st, _ := id["signInType"].(string)
		if strings.EqualFold(iss, f.issuer) && strings.EqualFold(ass, f.assigned) &&
			(f.signInType == "" || strings.EqualFold(st, f.signInType)) {
			return true
		}
	}
	return false
}

// indexed returns the candidate users of f from the directory's indexes, when f allows it.
func indexed(f filter, d *directory) ([]*user, bool) {
	switch n := f.(type) {
	case identityFilter:
		if u := d.byIdentity[identityKey(n.issuer, n.assigned)]; u != nil {
			return []*user{u}, true
		}
		return nil, true
	case eqFilter:
		s, ok := n.val.(string)
		if !ok {
			return nil, false
		}
		switch n.prop {
		case "id":
			if u := d.users[strings.ToLower(s)]; u != nil {
				return []*user{u}, true
			}
			return nil, true
		case "userPrincipalName":
			if u := d.byUPN[strings.ToLower(s)]; u != nil {
				return []*user{u}, true
			}
			return nil, true
		}
	case inFilter:
		if n.prop != "id" && n.prop != "userPrincipalName" {
			return nil, false
		}
		var out []*user
		seen := map[*user]bool{}
		for _, v := range n.vals {
			c, ok := indexed(eqFilter{n.prop, v}, d)
			if !ok {
				return nil, false
			}
			for _, u := range c {
				if !seen[u] {
					seen[u] = true
					out = append(out, u)
				}
			}
		}
		return out, true
	case andFilter:
		if c, ok := indexed(n.a, d); ok {
			return c, true
		}
		return indexed(n.b, d)
	case orFilter:
		a, ok1 := indexed(n.a, d)
		b, ok2 := indexed(n.b, d)
		if !ok1 || !ok2 {
			return nil, false
		}
		for _, u := range b {
			found := false
			for _, x := range a {
				found = found || x == u
			}
			if !found {
				a = append(a, u)
			}
		}
		return a, true
	}
	return nil, false
}

// Tokens of the filter grammar.
type ftok struct {
	kind byte // 'w' word, 's' string, 'n' number, or the punctuation itself
	text string
}

func lexFilter(s string) ([]ftok, *filterError) {
	var out []ftok
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '(' || ch == ')' || ch == ',' || ch == ':':
			out = append(out, ftok{ch, string(ch)})
			i++
		case ch == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, &filterError{msg: "unterminated string literal"}
			}
			out = append(out, ftok{'s', b.String()})
		case ch == '-' || ch >= '0' && ch <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if s[i:j] == "-" {
				return nil, &filterError{msg: "unexpected '-'"}
			}
			out = append(out, ftok{'n', s[i:j]})
			i = j
		case ch == '_' || ch == '@' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '/' || s[j] == '.' || s[j] >= 'a' && s[j] <= 'z' ||
				s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, ftok{'w', s[i:j]})
			i = j
		default:
			return nil, &filterError{msg: "syntax error at position " + itoa(i)}
		}
	}
	return out, nil
}

type filterParser struct {
	toks []ftok
	pos  int
}

func (p *filterParser) peek() ftok {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ftok{}
}

func (p *filterParser) next() ftok {
	t := p.peek()
	if p.pos < len(p.toks) {
		p.pos++
	}
	return t
}

func (p *filterParser) expect(kind byte) (ftok, *filterError) {
	t := p.next()
	if t.kind != kind {
		if t.kind == 0 {
			return t, &filterError{msg: "unexpected end of expression, expected '" + string(kind) + "'"}
		}
		return t, &filterError{msg: "unexpected '" + t.text + "'"}
	}
	return t, nil
}

func isWord(t ftok, w string) bool { return t.kind == 'w' && strings.EqualFold(t.text, w) }

// parseFilter parses the $filter subset: eq, in, startswith(), identities/any(), and, or, parentheses.
func parseFilter(s string) (filter, *filterError) {
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	if len(toks) > 200 {
		return nil, &filterError{msg: "The filter expression is too complex.", unsupported: true}
	}
	p := &filterParser{toks: toks}
	f, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, &filterError{msg: "unexpected '" + p.peek().text + "'"}
	}
	return f, nil
}

func (p *filterParser) or(depth int) (filter, *filterError) {
	if depth > 20 {
		return nil, &filterError{msg: "The filter expression is too deeply nested.", unsupported: true}
	}
	a, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "or") {
		p.next()
		b, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		a = orFilter{a, b}
	}
	return a, nil
}

func (p *filterParser) and(depth int) (filter, *filterError) {
	a, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for isWord(p.peek(), "and") {
		p.next()
		b, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		a = andFilter{a, b}
	}
	return a, nil
}

func unsupportedProp(name string) *filterError {
	return &filterError{msg: "Unsupported or invalid query filter clause specified for property '" + name + "' of resource 'User'.", unsupported: true}
}

// filterProp resolves a property name usable in a filter.
func filterProp(name string) (string, *filterError) {
	if strings.HasPrefix(strings.ToLower(name), "extension_") {
		return name, nil
	}
	spec, ok := userSpecByLower[strings.ToLower(name)]
	if !ok {
		return "", &filterError{msg: "Could not find a property named '" + name + "' on type 'microsoft.graph.user'."}
	}
	switch spec.name {
	case "identities", "passwordProfile", "passwordPolicies":
		return "", unsupportedProp(spec.name)
	}
	return spec.name, nil
}

func (p *filterParser) literal() (any, *filterError) {
	t := p.next()
	switch {
	case t.kind == 's':
		return t.text, nil
	case t.kind == 'n':
		return json.Number(t.text), nil
	case isWord(t, "true"):
		return true, nil
	case isWord(t, "false"):
		return false, nil
	case isWord(t, "null"):
		return nil, nil
	case t.kind == 0:
		return nil, &filterError{msg: "unexpected end of expression, expected a literal"}
	}
	return nil, &filterError{msg: "expected a literal, found '" + t.text + "'"}
}

func (p *filterParser) unary(depth int) (filter, *filterError) {
	t := p.next()
	switch {
	case t.kind == '(':
		f, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(')'); err != nil {
			return nil, err
		}
		return f, nil
	case isWord(t, "not"):
		return nil, &filterError{msg: "Operator 'not' requires advanced query parameters, not supported by the sandbox.", unsupported: true}
	case t.kind != 'w':
		if t.kind == 0 {
			return nil, &filterError{msg: "unexpected end of expression"}
		}
		return nil, &filterError{msg: "unexpected '" + t.text + "'"}
	case strings.EqualFold(t.text, "startswith") && p.peek().kind == '(':
		p.next()
		pt, err := p.expect('w')
		if err != nil {
			return nil, err
		}
		prop, err := filterProp(pt.text)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(','); err != nil {
			return nil, err
		}
		st, err := p.expect('s')
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(')'); err != nil {
			return nil, err
		}
		return startsFilter{prop, st.text}, nil
	case strings.EqualFold(t.text, "identities/any") && p.peek().kind == '(':
		p.next()
		return p.identityLambda()
	case p.peek().kind == '(':
		return nil, &filterError{msg: "Unsupported function '" + t.text + "'.", unsupported: true}
	}
	prop, err := filterProp(t.text)
	if err != nil {
		return nil, err
	}
	op := p.next()
	switch {
	case isWord(op, "eq"):
		v, err := p.literal()
		if err != nil {
			return nil, err
		}
		return eqFilter{prop, v}, nil
	case isWord(op, "in"):
		if _, err := p.expect('('); err != nil {
			return nil, err
		}
		var vals []any
		for {
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			if p.peek().kind == ',' {
				p.next()
				continue
			}
			break
		}
		if _, err := p.expect(')'); err != nil {
			return nil, err
		}
		if len(vals) > 15 {
			return nil, &filterError{msg: "Too many values in an 'in' clause (at most 15).", unsupported: true}
		}
		return inFilter{prop, vals}, nil
	case isWord(op, "ne") || isWord(op, "gt") || isWord(op, "ge") || isWord(op, "lt") || isWord(op, "le") || isWord(op, "endswith"):
		return nil, &filterError{msg: "Operator '" + op.text + "' is not supported on property '" + prop + "' without advanced query parameters.", unsupported: true}
	case op.kind == 0:
		return nil, &filterError{msg: "unexpected end of expression, expected an operator"}
	}
	return nil, &filterError{msg: "unknown operator '" + op.text + "'"}
}

// identityLambda parses "c:c/issuerAssignedId eq '…' and c/issuer eq '…')" after "identities/any(".
func (p *filterParser) identityLambda() (filter, *filterError) {
	v, err := p.expect('w')
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(':'); err != nil {
		return nil, err
	}
	var f identityFilter
	for {
		pt, err := p.expect('w')
		if err != nil {
			return nil, err
		}
		rangeVar, field, ok := strings.Cut(pt.text, "/")
		if !ok || rangeVar != v.text {
			return nil, &filterError{msg: "unknown range variable in '" + pt.text + "'"}
		}
		if op := p.next(); !isWord(op, "eq") {
			return nil, &filterError{msg: "Only 'eq' is supported inside identities/any.", unsupported: true}
		}
		st, err := p.expect('s')
		if err != nil {
			return nil, err
		}
		switch field {
		case "issuer":
			f.issuer = st.text
		case "issuerAssignedId":
			f.assigned = st.text
		case "signInType":
			f.signInType = st.text
		default:
			return nil, &filterError{msg: "Could not find a property named '" + field + "' on type 'microsoft.graph.objectIdentity'."}
		}
		if isWord(p.peek(), "and") {
			p.next()
			continue
		}
		break
	}
	if _, err := p.expect(')'); err != nil {
		return nil, err
	}
	if f.issuer == "" || f.assigned == "" {
		return nil, &filterError{msg: "Filtering on identities requires both issuerAssignedId and issuer.", unsupported: true}
	}
	return f, nil
}
