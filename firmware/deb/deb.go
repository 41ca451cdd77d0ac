package deb

import (
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"time"

	"github.com/goreleaser/nfpm/v2"
	nfpmdeb "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"

	"github.com/gridmesh/gridmesh/firmware"
)

//go:embed scripts
var scripts embed.FS

// Name is the package's name.
const Name = "gridmesh"

// ErrNeed64Bit refuses 32-bit targets, as the binary does (DESIGN.md, Known traps).
var ErrNeed64Bit = errors.New("deb: 32-bit targets are refused: badger, the chain and meter store, " +
	"silently loses data on 32-bit platforms; build arm64 (64-bit Raspberry Pi OS: Pi Zero 2 W, 3, 4, 5) or amd64")

// Options say what to build.
type Options struct {
	Arch    string // GOARCH and Debian architecture: "arm64" or "amd64"
	Version string // Debian version, such as "0.1.0"; the binary reports "v"+Version
	// Binary is a gridmesh binary already built for Arch; "" builds one from
	// the module at Root (CGO_ENABLED=0, -trimpath, -ldflags "-s -w").
	Binary string
	Root   string // the module's root directory; "" is the working directory
	Out    string // directory the .deb is written to
	// MTime is given to every file; zero is SOURCE_DATE_EPOCH or else now.
	MTime time.Time
}

// checkArch says whether arch can be packaged.
func checkArch(arch string) error {
	switch arch {
	case "arm64", "amd64":
		return nil
	case "arm", "armhf", "armel", "386", "i386", "mips", "mipsle", "ppc":
		return ErrNeed64Bit
	}
	return fmt.Errorf("deb: architecture %q: expected arm64 or amd64", arch)
}

// buildBinary cross-builds ./cmd/gridmesh of the module at root for
// linux/arch into dir and returns its path.
func buildBinary(ctx context.Context, root, arch, version, dir string) (string, error) {
	if err := checkArch(arch); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gridmesh-linux-"+arch)
	ldflags := "-s -w"
	if version != "" {
		ldflags += " -X main.releaseVersion=v" + version
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, "./cmd/gridmesh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("deb: GOOS=linux GOARCH=%s CGO_ENABLED=0 go build ./cmd/gridmesh: %w\n%s", arch, err, out)
	}
	return bin, nil
}

// Build writes the package and returns its path.
func Build(ctx context.Context, o Options) (string, error) {
	if err := checkArch(o.Arch); err != nil {
		return "", err
	}
	if o.Version == "" {
		return "", errors.New("deb: a version is required")
	}
	stage, err := os.MkdirTemp("", "gridmesh-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	bin := o.Binary
	if bin == "" {
		if bin, err = buildBinary(ctx, o.Root, o.Arch, o.Version, stage); err != nil {
			return "", err
		}
	}
	mtime, err := packageMTime(o.MTime)
	if err != nil {
		return "", err
	}
	paths, err := stageFiles(stage, o.Version, mtime)
	if err != nil {
		return "", err
	}
	return writePackage(packageInfo(o, bin, paths, mtime), o.Out)
}

// packageMTime is the time given to every file: mtime, or if it is zero
// SOURCE_DATE_EPOCH, or else now (UTC, whole seconds).
func packageMTime(mtime time.Time) (time.Time, error) {
	if !mtime.IsZero() {
		return mtime, nil
	}
	mtime = time.Now().UTC().Truncate(time.Second)
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err != nil {
			return time.Time{}, fmt.Errorf("deb: SOURCE_DATE_EPOCH: %w", err)
		}
		mtime = time.Unix(sec, 0).UTC()
	}
	return mtime, nil
}

// stageFiles writes the package's files other than the binary (the unit,
// the conffile, the docs, the lintian overrides and the maintainer scripts)
// into stage and returns their paths by name.
func stageFiles(stage, version string, mtime time.Time) (map[string]string, error) {
	write := func(name string, data []byte, mode os.FileMode) (string, error) {
		p := filepath.Join(stage, name)
		return p, os.WriteFile(p, data, mode)
	}
	// The conffile: a home with a simulated meter and trading off, until
	// provisioning (or the installer) names the real meter and the network.
	tmpl := firmware.HomeConfig("gridmesh-home").TOML()
	staged := map[string][]byte{
		"gridmesh.service": firmware.Unit,
		"node.toml":        tmpl,
		"copyright":        []byte(copyright),
		"overrides":        []byte(overrides),
		"changelog.gz":     gz(fmt.Sprintf(changelog, version, mtime.Format(time.RFC1123Z))),
	}
	paths := map[string]string{}
	var err error
	for name, data := range staged {
		if paths[name], err = write(name, data, 0o644); err != nil {
			return nil, err
		}
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		b, err := fs.ReadFile(scripts, "scripts/"+s)
		if err != nil {
			return nil, err
		}
		if paths[s], err = write(s, b, 0o755); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// packageInfo describes the package to nfpm: the binary bin, the files
// stageFiles wrote (paths) and the maintainer scripts, all root-owned with
// the time mtime; nfpm's defaults are filled in.
func packageInfo(o Options, bin string, paths map[string]string, mtime time.Time) *nfpm.Info {
	file := func(src, dst string, mode os.FileMode, typ string) *files.Content {
		return &files.Content{Source: src, Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mtime}}
	}
	info := &nfpm.Info{
		Name:          Name,
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       o.Version,
		VersionSchema: "none",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "gridmesh maintainers <packages@gridmesh.org>",
		Description:   description,
		Vendor:        "gridmesh",
		Homepage:      "https://github.com/gridmesh/gridmesh",
		License:       "see /usr/share/doc/gridmesh/copyright",
		MTime:         mtime,
		Overridables: nfpm.Overridables{
			Depends: []string{"adduser"},
			Contents: files.Contents{
				file(bin, firmware.BinPath, 0o755, ""),
				file(paths["gridmesh.service"], firmware.UnitPath, 0o644, ""),
				// 0644 in the package (Debian's rule); postinst makes it 0640
				// root:gridmesh, as the config may come to hold a broker password.
				file(paths["node.toml"], firmware.ConfigPath, 0o644, files.TypeConfigNoReplace),
				file(paths["copyright"], "/usr/share/doc/gridmesh/copyright", 0o644, ""),
				file(paths["changelog.gz"], "/usr/share/doc/gridmesh/changelog.gz", 0o644, ""),
				file(paths["overrides"], "/usr/share/lintian/overrides/gridmesh", 0o644, ""),
			},
			Scripts: nfpm.Scripts{PostInstall: paths["postinst"], PreRemove: paths["prerm"], PostRemove: paths["postrm"]},
			Deb:     nfpm.Deb{Compression: "xz"},
		},
	}
	return nfpm.WithDefaults(info)
}

// writePackage builds the .deb that info describes and writes it into the
// directory out under its conventional name, which it returns.
func writePackage(info *nfpm.Info, out string) (string, error) {
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("deb: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(out, nfpmdeb.Default.ConventionalFileName(info))
	var buf bytes.Buffer
	if err := nfpmdeb.Default.Package(info, &buf); err != nil {
		return "", fmt.Errorf("deb: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

func gz(s string) []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

const description = `peer-to-peer energy trading node for a neighbourhood microgrid
 gridmesh runs next to a household electricity meter. It reads the meter,
 offers the home's surplus (or bids for its deficit) to the neighbours over
 libp2p, clears the local market for each delivery slot, and settles what
 was really delivered on a small proof-of-authority chain.
 .
 The service makes its node key at its first start; configure the network in
 /etc/gridmesh (genesis.toml, node.toml) and check it with gridmesh doctor.`

const copyright = `gridmesh

Upstream: https://github.com/gridmesh/gridmesh

Copyright 2026 the gridmesh authors.

The licence is that of the gridmesh source repository it was built from.
`

// overrides are the lintian tags the package carries on purpose, with why.
const overrides = `# Go binaries are static by design (CGO_ENABLED=0: one file that runs on
# every 64-bit Raspberry Pi OS release); lintian exempts them only when a
# Debian source package build-depends on golang-go, which this is not.
gridmesh: statically-linked-binary [usr/bin/gridmesh]
`

const changelog = `gridmesh (%s) unstable; urgency=medium

  * Release built from the gridmesh repository (see its git log).

 -- gridmesh maintainers <packages@gridmesh.org>  %s
`

// contents is for tests and messages: the files the package installs.
func contents() []string {
	return []string{firmware.BinPath, firmware.UnitPath, firmware.ConfigPath,
		"/usr/share/doc/gridmesh/copyright", "/usr/share/doc/gridmesh/changelog.gz", "/usr/share/lintian/overrides/gridmesh"}
}
