package reader

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/idshift/idshift"
)

// Set returns the names as a set, for UnmappedJSON and UnmappedColumns.
func Set(names ...string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// UnmappedJSON returns the values of the JSON object raw that a reader does not read, for User.Unmapped: every
// leaf under a key path (dotted: user_metadata.plan) that is not in read, where a path in read hides everything
// below it. Objects are walked key by key in sorted order; each element of an array is a value of the array's
// path; a string holding a JSON object (Firebase's customAttributes) is walked as that object; numbers and
// booleans are given as their JSON text; null and empty strings are absent. A raw value that is not JSON gives
// nothing.
func UnmappedJSON(raw []byte, read map[string]bool) []idshift.Attr {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	var out []idshift.Attr
	walkUnmapped("", v, read, &out, 0)
	return out
}

// maxDepth bounds the walk of nested objects and strings holding JSON.
const maxDepth = 64

func walkUnmapped(path string, v any, read map[string]bool, out *[]idshift.Attr, depth int) {
	if path != "" && read[path] || depth > maxDepth {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkUnmapped(p, v[k], read, out, depth+1)
		}
	case []any:
		for _, e := range v {
			walkUnmapped(path, e, read, out, depth+1)
		}
	case string:
		if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			dec := json.NewDecoder(strings.NewReader(t))
			dec.UseNumber()
			var m map[string]any
			if dec.Decode(&m) == nil {
				walkUnmapped(path, m, read, out, depth+1)
				return
			}
		}
		if path != "" && v != "" {
			*out = append(*out, idshift.Attr{Name: path, Value: v})
		}
	case json.Number:
		if path != "" {
			*out = append(*out, idshift.Attr{Name: path, Value: v.String()})
		}
	case bool:
		if path != "" {
			*out = append(*out, idshift.Attr{Name: path, Value: strconv.FormatBool(v)})
		}
	}
}

// UnmappedColumns returns the positions of the header's columns that are not in read, for a reader of records
// given as values in header order (CSV, SQL rows).
func UnmappedColumns(header []string, read map[string]bool) []int {
	var idx []int
	for i, h := range header {
		if !read[h] {
			idx = append(idx, i)
		}
	}
	return idx
}
