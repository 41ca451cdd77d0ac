package update

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is a semantic version (semver.org 2.0.0) as releases are named:
// "v1.4.2", "v1.5.0-rc.1". The leading "v" is optional when parsing and
// always written. Build metadata ("+...") is not allowed: two releases that
// differ only in it would compare equal.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 []string // pre-release identifiers, nil for a release
}

// ErrVersion is returned for a string that is not a semantic version.
var ErrVersion = errors.New("update: not a semantic version")

// ParseVersion parses "v1.2.3" or "1.2.3", with an optional pre-release
// ("-rc.1").
func ParseVersion(s string) (Version, error) {
	bad := func() (Version, error) {
		return Version{}, fmt.Errorf("%w: %q (expected vMAJOR.MINOR.PATCH, such as v1.4.2)", ErrVersion, s)
	}
	t := strings.TrimPrefix(s, "v")
	if len(s) > 64 || strings.Contains(t, "+") {
		return bad()
	}
	core, pre, hasPre := strings.Cut(t, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return bad()
	}
	var n [3]uint64
	for i, p := range parts {
		if !numeric(p) || (len(p) > 1 && p[0] == '0') {
			return bad()
		}
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return bad()
		}
		n[i] = v
	}
	v := Version{Major: n[0], Minor: n[1], Patch: n[2]}
	if hasPre {
		for _, id := range strings.Split(pre, ".") {
			if id == "" || !identifier(id) || (numeric(id) && len(id) > 1 && id[0] == '0') {
				return bad()
			}
			if numeric(id) {
				if _, err := strconv.ParseUint(id, 10, 64); err != nil {
					return bad()
				}
			}
			v.Pre = append(v.Pre, id)
		}
	}
	return v, nil
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func identifier(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

// String writes v as "v1.2.3" or "v1.2.3-rc.1".
func (v Version) String() string {
	s := fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		s += "-" + strings.Join(v.Pre, ".")
	}
	return s
}

// Compare returns -1, 0 or +1 as v is lower than, equal to or higher than w,
// by semver precedence: a pre-release is lower than its release.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]uint64{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		a, b := v.Pre[i], w.Pre[i]
		if a == b {
			continue
		}
		an, bn := numeric(a), numeric(b)
		switch {
		case an && bn:
			x, _ := strconv.ParseUint(a, 10, 64)
			y, _ := strconv.ParseUint(b, 10, 64)
			if x < y {
				return -1
			}
			return 1
		case an:
			return -1 // numeric identifiers are lower than alphanumeric ones
		case bn:
			return 1
		case a < b:
			return -1
		default:
			return 1
		}
	}
	switch {
	case len(v.Pre) < len(w.Pre):
		return -1
	case len(v.Pre) > len(w.Pre):
		return 1
	}
	return 0
}
