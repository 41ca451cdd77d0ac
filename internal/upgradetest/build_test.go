package upgradetest

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// previous is the commit of main whose code stands for the previous
// release: the binary every node runs before the rolling upgrade. It is
// main just before the rolling-upgrade work (issue 17); a release bumps it
// to its own predecessor's tag or commit.
const previous = "497ddbb5e59446820863f2914331e5f8cde6551a"

// errNoGit is returned by buildCommit when git is not installed.
var errNoGit = errors.New("upgradetest: git is not installed")

// repoRoot is the root of the module that holds the working directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("upgradetest: not inside a module")
	}
	return filepath.Dir(mod), nil
}

// build builds gridmesh from the module at root into out (with -trimpath,
// so that the packages two builds share come from the build cache).
func build(root, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/gridmesh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/gridmesh in %s: %w\n%s", root, err, b)
	}
	return nil
}

// buildCommit builds gridmesh as it was at commit of the git repository at
// root: `git archive` of the commit unpacked into dir/src (the working tree
// and the index are not touched), then build into dir/gridmesh-<commit>.
// It returns the binary's path.
func buildCommit(root, commit, dir string) (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", errNoGit
	}
	src := filepath.Join(dir, "src-"+commit[:min(len(commit), 12)])
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("git", "-C", root, "archive", "--format=tar", commit)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	r, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("git archive %s: %w", commit, err)
	}
	uerr := untar(r, src)
	_, _ = io.Copy(io.Discard, r)
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("git archive %s in %s: %w: %s (a shallow clone lacks it: git fetch --unshallow)", commit, root, err, strings.TrimSpace(stderr.String()))
	}
	if uerr != nil {
		return "", fmt.Errorf("unpack git archive %s: %w", commit, uerr)
	}
	bin := filepath.Join(dir, "gridmesh-"+commit[:min(len(commit), 12)])
	return bin, build(src, bin)
}

// untar writes the regular files and directories of the tar stream r under
// dir; it refuses a name that leaves dir.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("tar entry %q leaves the directory", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
