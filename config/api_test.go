package config

import (
	"strings"
	"testing"
)

// TestAPIHosts: api.hosts takes DNS names only, and says which entry is wrong.
func TestAPIHosts(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		bad   string // expected in the error; "" for none
	}{
		{nil, ""},
		{[]string{"pi.example.net", "gridmesh-7", "PI.LAN"}, ""},
		{[]string{"pi.example.net:8080"}, "api.hosts[0]"},
		{[]string{"ok.example", "http://pi"}, "api.hosts[1]"},
		{[]string{"-bad.example"}, "api.hosts[0]"},
		{[]string{""}, "api.hosts[0]"},
		{[]string{"a..b"}, "api.hosts[0]"},
	} {
		n := DefaultNode()
		n.Node.Name, n.Node.Role = "home-1", RoleHome
		n.API.Hosts = tc.hosts
		err := n.Validate("node.toml")
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("hosts %q: %v; want no error", tc.hosts, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("hosts %q: error %v; want one naming %s", tc.hosts, err, tc.bad)
		}
	}
}
