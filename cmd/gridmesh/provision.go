package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/firmware"
)

func cmdProvision(args []string, stdout io.Writer) error {
	c := newCommand("provision", "--boot DIR|IMAGE --genesis genesis.toml --hostname H [--role home] [--meter PROFILE@DEVICE] [--wifi SSID --wifi-psk-file F [--wifi-country CC]] [--deb FILE]", `
Write onto a freshly flashed Raspberry Pi OS boot partition what the Pi runs
at its first boot: cloud-init user-data, meta-data and network-config (Trixie-
based images) and firstrun.sh with its kernel command line (Bookworm). Both
install the gridmesh .deb from the boot partition, write the node config and
the network's genesis, and start the service. The node makes its key itself
at its first start: no key is ever on the card. The Wi-Fi password is the one
secret written, and the Pi deletes it from the boot partition at first boot.

--boot is the mounted boot partition (DIR), or the partition itself or an
image of it (a block device or file, written with mtools: no mount needed).
--meter PROFILE@DEVICE names the meter: sdm630@/dev/ttyUSB0 (Modbus RTU),
sdm630@192.168.1.50:502 (Modbus TCP), dsmr@/dev/ttyUSB0, sml@/dev/ttyAMA0,
s0@GPIO17; without it the home gets the simulated meter and trading off.`)
	boot := c.fs.String("boot", "", "the boot partition: a mounted directory, or a partition or image file (mtools)")
	role := c.fs.String("role", string(config.RoleHome), `"home" or "authority"`)
	genesis := c.fs.String("genesis", "", "the network's genesis.toml, from its operator (required)")
	hostname := c.fs.String("hostname", "", "the Pi's host name, also the node's name (required), e.g. home-12")
	meterSpec := c.fs.String("meter", "", "the meter as PROFILE@DEVICE, e.g. sdm630@/dev/ttyUSB0")
	wifi := c.fs.String("wifi", "", "Wi-Fi network name (SSID); without it the Pi uses Ethernet")
	pskFile := c.fs.String("wifi-psk-file", "", "a file holding the Wi-Fi password (not on the command line: shells keep history)")
	country := c.fs.String("wifi-country", "", "Wi-Fi country code, e.g. DE (the radio's regulatory domain)")
	debPath := c.fs.String("deb", "", "the gridmesh .deb (arm64) to install at first boot")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	switch {
	case *boot == "":
		return usagef("provision: --boot is required (the boot partition)")
	case *genesis == "":
		return usagef("provision: --genesis is required (the network's genesis.toml)")
	case *hostname == "":
		return usagef("provision: --hostname is required, e.g. home-12")
	case (*wifi == "") != (*pskFile == ""):
		return usagef("provision: --wifi and --wifi-psk-file go together")
	}
	g, err := os.ReadFile(*genesis)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	if _, err := config.LoadGenesis(*genesis); err != nil {
		return err
	}
	p := firmware.Provisioning{Role: config.Role(*role), Genesis: g, Hostname: *hostname, Meter: *meterSpec,
		WiFiSSID: *wifi, WiFiCountry: *country}
	if *pskFile != "" {
		b, err := os.ReadFile(*pskFile)
		if err != nil {
			return fmt.Errorf("provision: --wifi-psk-file: %w", err)
		}
		p.WiFiPSK = strings.TrimRight(string(b), "\r\n")
	}
	var deb []byte
	if *debPath != "" {
		if deb, err = os.ReadFile(*debPath); err != nil {
			return fmt.Errorf("provision: --deb: %w", err)
		}
		p.DebName = filepath.Base(*debPath)
		if !strings.HasSuffix(p.DebName, "_arm64.deb") {
			return usagef("provision: --deb: expected the arm64 package (gridmesh_VERSION_arm64.deb), got %s", p.DebName)
		}
	}
	part, err := openBoot(*boot)
	if err != nil {
		return err
	}
	if err := provisionBoot(part, *boot, p, deb, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nput the card in the Pi and power it on: it installs gridmesh, starts it and reboots once.\n")
	fmt.Fprintf(stdout, "then, on the Pi: gridmesh doctor (it shows the enrolment code for the operator)\n")
	return nil
}

// provisionBoot writes the first boot files of p, and the package deb if
// it is not nil, onto the boot partition part (named boot in messages),
// after checking it is a Raspberry Pi OS one. It prints a line for each
// file written.
func provisionBoot(part *bootPart, boot string, p firmware.Provisioning, deb []byte, stdout io.Writer) error {
	cmdline, err := part.read("cmdline.txt")
	if err != nil {
		return fmt.Errorf("provision: %s: no cmdline.txt (%v): not a Raspberry Pi OS boot partition", boot, err)
	}
	if _, err := part.read("config.txt"); err != nil {
		return fmt.Errorf("provision: %s: no config.txt (%v): not a Raspberry Pi OS boot partition", boot, err)
	}
	files, newCmdline, err := p.Files(cmdline)
	if err != nil {
		return err
	}
	files["cmdline.txt"] = newCmdline
	if deb != nil {
		files[firmware.BootDir+"/"+p.DebName] = deb
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	if err := keepImagerFirstBoot(part, files, stdout); err != nil {
		return err
	}
	for _, name := range names {
		if err := part.write(name, files[name]); err != nil {
			return fmt.Errorf("provision: write %s: %w", name, err)
		}
		fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", name, len(files[name]))
	}
	return nil
}

// keepImagerFirstBoot merges into files the user-data and firstrun.sh
// already on part, so that Raspberry Pi Imager's customisation (user, SSH,
// Wi-Fi) is kept, and says so on stdout when that changed what gridmesh
// writes.
func keepImagerFirstBoot(part *bootPart, files map[string][]byte, stdout io.Writer) error {
	for _, name := range []string{"user-data", "firstrun.sh"} {
		if existing, err := part.read(name); err == nil && len(existing) > 0 {
			merged, err := firmware.Merge(name, existing, files[name])
			if err != nil {
				return err
			}
			if !bytes.Equal(merged, files[name]) {
				fmt.Fprintf(stdout, "kept the %s already there (Raspberry Pi Imager's?) and added gridmesh's first boot to it\n", name)
			}
			files[name] = merged
		}
	}
	return nil
}

// bootPart is a boot partition: a mounted directory, or a FAT image or
// device written with mtools.
type bootPart struct {
	dir, image string
	made       map[string]bool // directories known to exist in image
}

func openBoot(p string) (*bootPart, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("provision: --boot: %w", err)
	}
	if st.IsDir() {
		return &bootPart{dir: p}, nil
	}
	if _, err := exec.LookPath("mcopy"); err != nil {
		return nil, errors.New("provision: --boot is not a directory: writing a partition or image needs mtools (apt-get install mtools), or mount it and give the directory")
	}
	return &bootPart{image: p, made: map[string]bool{}}, nil
}

func (b *bootPart) read(name string) ([]byte, error) {
	if b.dir != "" {
		return os.ReadFile(filepath.Join(b.dir, name))
	}
	return mtools("mtype", "-i", b.image, "::"+name)
}

func (b *bootPart) write(name string, data []byte) error {
	if b.dir != "" {
		p := filepath.Join(b.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, data, 0o644)
	}
	if d := path.Dir(name); d != "." && !b.made[d] {
		if _, err := mtools("mdir", "-b", "-i", b.image, "::"+d); err != nil {
			if _, err := mtools("mmd", "-i", b.image, "::"+d); err != nil {
				return err
			}
		}
		b.made[d] = true
	}
	f, err := os.CreateTemp("", "gridmesh-provision-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = mtools("mcopy", "-o", "-i", b.image, f.Name(), "::"+name)
	return err
}

func mtools(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}
