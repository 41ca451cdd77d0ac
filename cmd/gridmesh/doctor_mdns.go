package main

import (
	"os"
	"path/filepath"
	"strings"
)

// checkLANName is the name the Pi is found by on the LAN: its host name
// under .local, which avahi-daemon (installed and running on Raspberry Pi OS)
// answers by mDNS. The node's own mDNS (network.mdns) only finds gridmesh
// peers, it does not answer for a host name, so doctor looks for avahi's
// socket under e.runDir. No line without e.hostname.
func (e doctorEnv) checkLANName() (name, status, detail, fix string) {
	if e.hostname == nil {
		return "", "", "", ""
	}
	name = "lan-name"
	h, err := e.hostname()
	if err != nil || h == "" {
		return name, checkWarn, "no host name: the Pi cannot be found by name on the LAN", "set one: sudo hostnamectl set-hostname home-12 (or gridmesh provision --hostname)"
	}
	h, _, _ = strings.Cut(h, ".") // mDNS answers for the first label
	if _, err := os.Stat(filepath.Join(e.runDir, "avahi-daemon", "socket")); err != nil {
		return name, checkWarn, "no mDNS responder (avahi-daemon is not running): the Pi is not found as " + h + ".local",
			"sudo apt-get install avahi-daemon && sudo systemctl enable --now avahi-daemon, or use its IP address"
	}
	return name, checkOK, h + ".local (mDNS, avahi-daemon)", ""
}
