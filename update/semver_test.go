package update

import "testing"

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"v1.2.3", "v1.2.3", true},
		{"1.2.3", "v1.2.3", true},
		{"v0.0.1-rc.1", "v0.0.1-rc.1", true},
		{"v1.2.3-alpha-2.x", "v1.2.3-alpha-2.x", true},
		{"v1.2", "", false},
		{"v01.2.3", "", false},
		{"v1.2.3+build", "", false},
		{"v1.2.3-", "", false},
		{"v1.2.3-01", "", false},
		{"v1.2.3-a..b", "", false},
		{"(devel)", "", false},
		{"v1.2.x", "", false},
		{"v99999999999999999999.0.0", "", false},
		{"v1.2.3-99999999999999999999", "", false},
	} {
		v, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseVersion(%q): err %v, want ok %v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && v.String() != tc.want {
			t.Errorf("ParseVersion(%q) = %s, want %s", tc.in, v, tc.want)
		}
	}
}

// TestCompare checks the precedence list of semver.org §11 and a few more.
func TestCompare(t *testing.T) {
	order := []string{"v0.9.9", "v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.1", "v1.2.0", "v1.10.0", "v2.0.0"}
	for i, a := range order {
		for j, b := range order {
			va, vb := must(ParseVersion(a)), must(ParseVersion(b))
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := va.Compare(vb); got != want {
				t.Errorf("%s vs %s: got %d, want %d", a, b, got, want)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
