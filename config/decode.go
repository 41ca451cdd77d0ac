package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// problems collects every problem found in one file. Each is reported as
// "<file>: <key>: <what was expected>".
type problems struct {
	file  string
	errs  []error
	keys  []string        // keys[i] is the key errs[i] is about
	bad   map[string]bool // keys already reported
	order map[string]int  // dotted key -> position of its first appearance in the file
}

// add reports a problem with key, unless key or a table or array holding it
// has been reported already: a value that failed to decode keeps its default,
// and checking that default would only mislead.
func (p *problems) add(key, format string, args ...any) {
	if key != "" {
		if p.bad == nil {
			p.bad = map[string]bool{}
		}
		for i := range len(key) + 1 {
			if (i == len(key) || key[i] == '.' || key[i] == '[') && p.bad[key[:i]] {
				return
			}
		}
		p.bad[key] = true
	}
	msg := fmt.Sprintf(format, args...)
	p.keys = append(p.keys, key)
	if key == "" {
		p.errs = append(p.errs, fmt.Errorf("%s: %s", p.file, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", p.file, key, msg))
}

// err joins the problems in the order their keys appear in the file, so that
// a person can fix them top to bottom; problems about keys the file does not
// have (a missing value) come where their table is, or last.
func (p *problems) err() error {
	idx := make([]int, len(p.errs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p.rank(p.keys[idx[a]]) < p.rank(p.keys[idx[b]]) })
	errs := make([]error, len(idx))
	for i, j := range idx {
		errs[i] = p.errs[j]
	}
	return errors.Join(errs...)
}

func (p *problems) rank(key string) int {
	if key == "version" || key == "" {
		return -1
	}
	// "authorities[1].key" is ranked where "authorities.key" first appears.
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		if key[i] == '[' {
			for i < len(key) && key[i] != ']' {
				i++
			}
			continue
		}
		b.WriteByte(key[i])
	}
	k := b.String()
	for {
		if pos, ok := p.order[k]; ok {
			return pos
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			return math.MaxInt
		}
		k = k[:i]
	}
}

// readTOML reads and parses the file at path into a generic table. A syntax
// error ends decoding (nothing after it can be trusted) and is returned with
// its line and column.
func readTOML(path string) (map[string]any, map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return parseTOML(path, b)
}

// parseTOML parses b into a generic table and returns, for every dotted key,
// the position of its first appearance in the file.
func parseTOML(path string, b []byte) (map[string]any, map[string]int, error) {
	var m map[string]any
	md, err := toml.Decode(string(b), &m)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			col := pe.Position.Col
			if col > 0 {
				return nil, nil, fmt.Errorf("%s: line %d, column %d: invalid TOML: %s", path, pe.Position.Line, col, pe.Message)
			}
			return nil, nil, fmt.Errorf("%s: line %d: invalid TOML: %s", path, pe.Position.Line, pe.Message)
		}
		return nil, nil, fmt.Errorf("%s: invalid TOML: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
	}
	order := map[string]int{}
	for i, k := range md.Keys() {
		s := strings.Join(k, ".")
		if _, seen := order[s]; !seen {
			order[s] = i
		}
	}
	return m, order, nil
}

var (
	durationType = reflect.TypeFor[Duration]()
)

// decodeTable assigns the keys of table m to the fields of the struct rv (by
// their `toml` tags), reporting unknown keys and values of the wrong type.
// Fields whose key is absent keep their value (the default). prefix is the
// dotted path of the table ("" for the top level).
func (p *problems) decodeTable(prefix string, m map[string]any, rv reflect.Value) {
	fields := map[string]int{}
	var known []string
	t := rv.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		known = append(known, name)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := join(prefix, k)
		i, ok := fields[k]
		if !ok {
			p.add(path, "unknown key (known keys here: %s)", strings.Join(known, ", "))
			continue
		}
		p.decodeValue(path, m[k], rv.Field(i))
	}
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// decodeValue assigns the TOML value v to rv, or reports why it cannot.
func (p *problems) decodeValue(path string, v any, rv reflect.Value) {
	if rv.Type() == durationType {
		s, ok := v.(string)
		if !ok {
			p.add(path, "expected a duration such as \"1s\", got %s", describe(v))
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			p.add(path, "expected a duration such as \"1s\", got %s", describe(v))
			return
		}
		rv.Set(reflect.ValueOf(Duration{d}))
		return
	}
	switch rv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			p.add(path, "expected a string, got %s", describe(v))
			return
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			p.add(path, "expected true or false, got %s", describe(v))
			return
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			p.add(path, "expected an integer, got %s", describe(v))
			return
		}
		if rv.OverflowInt(n) {
			p.add(path, "expected an integer that fits in %d bits, got %d", rv.Type().Bits(), n)
			return
		}
		rv.SetInt(n)
	case reflect.Slice:
		var items []any
		switch a := v.(type) {
		case []any:
			items = a
		case []map[string]any:
			for _, t := range a {
				items = append(items, t)
			}
		default:
			p.add(path, "expected an array, got %s", describe(v))
			return
		}
		out := reflect.MakeSlice(rv.Type(), len(items), len(items))
		for i, item := range items {
			p.decodeValue(fmt.Sprintf("%s[%d]", path, i), item, out.Index(i))
		}
		rv.Set(out)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			p.add(path, "expected a table, got %s", describe(v))
			return
		}
		p.decodeTable(path, m, rv)
	default:
		// A field type this decoder does not know is a programming error in
		// this package, not a problem with the file.
		panic(fmt.Sprintf("config: no decoder for %s (%s)", rv.Type(), path))
	}
}

// describe renders a decoded TOML value for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Sprint(v)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%v", v)
	}
}

// checkVersion reports a missing version key or a version other than 1.
func (p *problems) checkVersion(m map[string]any) {
	v, ok := m["version"]
	if !ok {
		p.add("version", "missing; expected version = 1 at the top of the file")
		return
	}
	if n, ok := v.(int64); !ok || n != 1 {
		p.add("version", "expected 1 (the only version this gridmesh reads), got %s", describe(v))
	}
}

// oneOf is problems.oneOf for a typed string (Role, Driver).
func oneOf[S ~string](p *problems, key string, got S, allowed ...S) bool {
	a := make([]string, len(allowed))
	for i, v := range allowed {
		a[i] = string(v)
	}
	return p.oneOf(key, string(got), a...)
}

// oneOf reports a string value not in allowed.
func (p *problems) oneOf(key, got string, allowed ...string) bool {
	if slices.Contains(allowed, got) {
		return true
	}
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = strconv.Quote(a)
	}
	var want string
	switch len(q) {
	case 1:
		want = q[0]
	case 2:
		want = q[0] + " or " + q[1]
	default:
		want = "one of " + strings.Join(q, ", ")
	}
	p.add(key, "expected %s, got %s", want, strconv.Quote(got))
	return false
}
