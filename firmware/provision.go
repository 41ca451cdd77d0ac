package firmware

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/gridmesh/gridmesh/config"
)

// BootMount is where Raspberry Pi OS (Bookworm and Trixie) mounts its boot
// partition; BootDir is provisioning's directory on it.
const (
	BootMount = "/boot/firmware"
	BootDir   = "gridmesh"
)

// Provisioning says what a freshly flashed card should become.
type Provisioning struct {
	Role     config.Role
	Genesis  []byte // the network's genesis.toml, checked
	Hostname string // also the node's name
	Meter    string // PROFILE@DEVICE (ParseMeter); "" keeps the simulated meter and trading off
	WiFiSSID string
	WiFiPSK  string // written only into network-config and firstrun.sh, both removed at first boot
	// WiFiCountry is the regulatory domain (ISO 3166 code) the Pi's radio
	// needs before it may transmit; "" leaves it as the image has it.
	WiFiCountry string
	DebName     string // the .deb's file name in BootDir; "" installs none (the image has it)
}

var hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Files returns what provisioning writes onto the boot partition, by path
// relative to it, and the cmdline.txt to write given the current one:
//
//   - user-data, meta-data and (with Wi-Fi) network-config: cloud-init's
//     NoCloud data, which Trixie-based Raspberry Pi OS reads at first boot;
//   - firstrun.sh plus a systemd.run= on the kernel command line: what
//     Bookworm images run at first boot (as Raspberry Pi Imager writes it);
//   - gridmesh/firstboot.sh, which both call: install the .deb, write the
//     node's config and the network's genesis, enable and start the service,
//     and remove the Wi-Fi password from the boot partition.
//
// No key is written: the service makes the node key at its first start.
func (p Provisioning) Files(cmdline []byte) (files map[string][]byte, newCmdline []byte, err error) {
	if p.Role != config.RoleHome && p.Role != config.RoleAuthority {
		return nil, nil, fmt.Errorf("provision: role: expected \"home\" or \"authority\", got %q", p.Role)
	}
	if !hostnameRE.MatchString(p.Hostname) {
		return nil, nil, fmt.Errorf("provision: hostname: expected 1-63 lower-case letters, digits and inner dashes, got %q", p.Hostname)
	}
	if _, err := config.ParseGenesis("genesis.toml", p.Genesis); err != nil {
		return nil, nil, fmt.Errorf("provision: %w", err)
	}
	if (p.WiFiSSID == "") != (p.WiFiPSK == "") {
		return nil, nil, fmt.Errorf("provision: Wi-Fi needs both an SSID and a password (or neither, for Ethernet)")
	}
	if p.WiFiPSK != "" && (len(p.WiFiPSK) < 8 || len(p.WiFiPSK) > 63 || strings.ContainsAny(p.WiFiPSK, "\"'\\\n\r")) {
		return nil, nil, fmt.Errorf("provision: Wi-Fi password: expected 8-63 characters without quotes, backslashes or newlines")
	}
	if strings.ContainsAny(p.WiFiSSID, "\"'\\\n\r") || len(p.WiFiSSID) > 32 {
		return nil, nil, fmt.Errorf("provision: Wi-Fi SSID: expected up to 32 characters without quotes, backslashes or newlines")
	}
	if p.WiFiCountry != "" && !regexp.MustCompile(`^[A-Z]{2}$`).MatchString(p.WiFiCountry) {
		return nil, nil, fmt.Errorf("provision: Wi-Fi country: expected a two-letter code such as DE, got %q", p.WiFiCountry)
	}
	n := HomeConfig(p.Hostname)
	n.Node.Role = p.Role
	if p.Meter != "" {
		if p.Role != config.RoleHome {
			return nil, nil, fmt.Errorf("provision: --meter is for homes; an authority has no meter")
		}
		if err := ParseMeter(&n, p.Meter); err != nil {
			return nil, nil, fmt.Errorf("provision: %w", err)
		}
	}
	if err := n.Validate("node.toml"); err != nil {
		return nil, nil, fmt.Errorf("provision: %w", err)
	}
	files = map[string][]byte{
		BootDir + "/node.toml":    n.TOML(),
		BootDir + "/genesis.toml": p.Genesis,
		BootDir + "/firstboot.sh": p.firstboot(),
		"meta-data":               []byte("instance-id: gridmesh-" + p.Hostname + "\nlocal-hostname: " + p.Hostname + "\n"),
		"user-data":               p.userData(),
		"firstrun.sh":             p.firstrun(),
	}
	if p.WiFiSSID != "" {
		files["network-config"] = p.networkConfig()
	}
	line := strings.TrimSpace(string(cmdline))
	if line == "" {
		return nil, nil, fmt.Errorf("provision: cmdline.txt is empty: not a Raspberry Pi OS boot partition?")
	}
	if !strings.Contains(line, "systemd.run=") {
		line += " systemd.run=" + BootMount + "/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target"
	}
	return files, []byte(line + "\n"), nil
}

func (p Provisioning) userData() []byte {
	var b bytes.Buffer
	b.WriteString("#cloud-config\n")
	b.WriteString("# Written by gridmesh provision. At first boot: install gridmesh, write its\n")
	b.WriteString("# config, start it (it makes its own key), remove the Wi-Fi password from\n")
	b.WriteString("# the boot partition. Nothing secret is in this file.\n")
	fmt.Fprintf(&b, "hostname: %s\nmanage_etc_hosts: true\n", p.Hostname)
	b.WriteString("runcmd:\n")
	fmt.Fprintf(&b, "  - [sh, %s/%s/firstboot.sh]\n", BootMount, BootDir)
	return b.Bytes()
}

func (p Provisioning) networkConfig() []byte {
	var b bytes.Buffer
	b.WriteString("# Written by gridmesh provision; removed at first boot (it holds the Wi-Fi password).\n")
	b.WriteString("network:\n  version: 2\n  wifis:\n    wlan0:\n      dhcp4: true\n      optional: true\n")
	if p.WiFiCountry != "" {
		fmt.Fprintf(&b, "      regulatory-domain: %s\n", p.WiFiCountry)
	}
	fmt.Fprintf(&b, "      access-points:\n        \"%s\":\n          password: \"%s\"\n", p.WiFiSSID, p.WiFiPSK)
	return b.Bytes()
}

// firstrun is the Bookworm path: run once by systemd.run= from the kernel
// command line, before the system is fully up, then reboot.
func (p Provisioning) firstrun() []byte {
	var b bytes.Buffer
	b.WriteString("#!/bin/sh\n# Written by gridmesh provision for Bookworm-based Raspberry Pi OS: run once at\n")
	b.WriteString("# first boot from the kernel command line (systemd.run=), then removed.\nset +e\n")
	fmt.Fprintf(&b, "BOOT=%s\n", BootMount)
	fmt.Fprintf(&b, "if [ -x /usr/lib/raspberrypi-sys-mods/imager_custom ]; then\n  /usr/lib/raspberrypi-sys-mods/imager_custom set_hostname %s\nelse\n  echo %s >/etc/hostname\n  sed -i 's/127.0.1.1.*/127.0.1.1\\t%s/' /etc/hosts\nfi\n", p.Hostname, p.Hostname, p.Hostname)
	if p.WiFiSSID != "" {
		if p.WiFiCountry != "" {
			fmt.Fprintf(&b, "raspi-config nonint do_wifi_country %s\n", p.WiFiCountry)
		}
		b.WriteString("install -d -m 0700 /etc/NetworkManager/system-connections\n")
		b.WriteString("cat >/etc/NetworkManager/system-connections/gridmesh-wifi.nmconnection <<'EOF'\n")
		fmt.Fprintf(&b, "[connection]\nid=gridmesh-wifi\ntype=wifi\n[wifi]\nmode=infrastructure\nssid=%s\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=%s\n[ipv4]\nmethod=auto\n[ipv6]\nmethod=auto\n", p.WiFiSSID, p.WiFiPSK)
		b.WriteString("EOF\nchmod 0600 /etc/NetworkManager/system-connections/gridmesh-wifi.nmconnection\nrfkill unblock wifi 2>/dev/null\n")
	}
	// systemd.run runs before multi-user.target: install now, start after the reboot.
	fmt.Fprintf(&b, "GRIDMESH_NO_START=1 sh $BOOT/%s/firstboot.sh\n", BootDir)
	b.WriteString("# Remove this file (it may hold the Wi-Fi password) and its kernel arguments.\n")
	b.WriteString("rm -f $BOOT/firstrun.sh\n")
	b.WriteString("sed -i 's| systemd.run.*||g' $BOOT/cmdline.txt\n")
	b.WriteString("exit 0\n")
	return b.Bytes()
}

// firstboot installs and starts gridmesh; both first-boot paths call it, and
// it does its work once.
func (p Provisioning) firstboot() []byte {
	var b bytes.Buffer
	b.WriteString("#!/bin/sh\n# Written by gridmesh provision: install gridmesh from the boot partition and\n")
	b.WriteString("# start it. The node makes its key itself at its first start; none is here.\nset -e\n")
	fmt.Fprintf(&b, "BOOT=%s\nSRC=$BOOT/%s\n", BootMount, BootDir)
	b.WriteString("[ -e $SRC/done ] && exit 0\n")
	if p.DebName != "" {
		fmt.Fprintf(&b, "dpkg -i $SRC/%s\n", p.DebName)
	}
	fmt.Fprintf(&b, "install -m 0640 -o root -g %s $SRC/node.toml %s\n", User, ConfigPath)
	fmt.Fprintf(&b, "install -m 0644 -o root -g root $SRC/genesis.toml %s\n", GenesisPath)
	b.WriteString("systemctl enable gridmesh.service\n")
	b.WriteString("[ -n \"$GRIDMESH_NO_START\" ] || systemctl start --no-block gridmesh.service\n")
	b.WriteString("# The Wi-Fi password is on the device now (NetworkManager or netplan, root only):\n")
	b.WriteString("# take it off the boot partition, which anyone holding the card can read.\n")
	b.WriteString("rm -f $BOOT/network-config\n")
	b.WriteString("date -u +%FT%TZ > $SRC/done\n")
	return b.Bytes()
}

// marker is in every first-boot file provisioning writes; added marks
// what it adds to another's (Merge).
const (
	marker = "Written by gridmesh provision"
	added  = "Added by gridmesh provision"
)

// Merge combines a first-boot file provisioning writes (ours) with the one
// already on the boot partition (existing), so that a card customised by
// Raspberry Pi Imager (user, SSH, Wi-Fi, locale) keeps that and also installs
// gridmesh:
//
//   - user-data: our runcmd is appended to Imager's cloud-config (refused if
//     it has a runcmd of its own: two would be one YAML key twice);
//   - firstrun.sh: our first-boot call goes before Imager's line that removes
//     the script.
//
// A file provisioning wrote before is replaced, and what it added before is
// taken out and added again; any other name is ours.
func Merge(name string, existing, ours []byte) ([]byte, error) {
	if len(existing) == 0 || bytes.Contains(existing, []byte(marker)) {
		return ours, nil
	}
	call := fmt.Sprintf("%s/%s/firstboot.sh", BootMount, BootDir)
	if i := bytes.Index(existing, []byte("# "+added)); i >= 0 {
		rest := existing[i:]
		end := len(rest)
		if name == "firstrun.sh" {
			// Two lines: the comment and the call.
			end = 0
			for range 2 {
				if k := bytes.IndexByte(rest[end:], '\n'); k >= 0 {
					end += k + 1
				}
			}
		}
		existing = append(append([]byte(nil), existing[:i]...), rest[end:]...)
	}
	switch name {
	case "user-data":
		if !bytes.HasPrefix(existing, []byte("#cloud-config")) {
			return nil, fmt.Errorf("provision: the boot partition's user-data is not a #cloud-config file: remove it or flash the card again")
		}
		if regexp.MustCompile(`(?m)^runcmd:`).Match(existing) {
			return nil, fmt.Errorf("provision: the boot partition's user-data has a runcmd of its own: add \"- [sh, %s]\" to it by hand, or flash without that customisation", call)
		}
		out := append(bytes.TrimRight(existing, "\n"), '\n')
		out = append(out, fmt.Sprintf("# %s: install and start gridmesh at first boot.\nruncmd:\n  - [sh, %s]\n", added, call)...)
		return out, nil
	case "firstrun.sh":
		re := regexp.MustCompile(`(?m)^rm -f /boot(/firmware)?/firstrun\.sh\s*$`)
		loc := re.FindIndex(existing)
		if loc == nil {
			return nil, fmt.Errorf("provision: the boot partition's firstrun.sh does not remove itself as Raspberry Pi Imager's does: remove it or flash the card again")
		}
		ins := fmt.Sprintf("# %s: install gridmesh (started after the reboot).\nGRIDMESH_NO_START=1 sh %s\n", added, call)
		out := append([]byte(nil), existing[:loc[0]]...)
		out = append(out, ins...)
		return append(out, existing[loc[0]:]...), nil
	}
	return ours, nil
}
