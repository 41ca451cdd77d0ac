package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Source is where a release is read from: a directory holding
// manifest.json, manifest.json.minisig and the target files; a manifest
// file in such a directory; or the http(s) URL of either. Whatever the
// source, what it returns is checked the same way (Verify, then each
// target's size and sha256).
type Source struct {
	manifest string   // path or URL of the manifest
	base     *url.URL // non-nil for http(s)
	client   *http.Client
	peer     Requester // non-nil for a peer (NewPeerSource)
	peerName string
	// release pins a peer source to one release: the hex sha256 of the
	// manifest it read first, so that the signature and the binary come
	// from the same release even if the peer installs another meanwhile.
	release string
}

// NewSource parses from (see Source). client may be nil for
// http.DefaultClient; it is used only for an http(s) source.
func NewSource(from string, client *http.Client) (*Source, error) {
	if client == nil {
		client = http.DefaultClient
	}
	if strings.HasPrefix(from, "http://") || strings.HasPrefix(from, "https://") {
		u, err := url.Parse(from)
		if err != nil {
			return nil, fmt.Errorf("update: --from %q: %w", from, err)
		}
		if !strings.HasSuffix(u.Path, ".json") {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/manifest.json"
		}
		return &Source{manifest: u.String(), base: u, client: client}, nil
	}
	st, err := os.Stat(from)
	if err != nil {
		return nil, fmt.Errorf("update: --from: %w", err)
	}
	if st.IsDir() {
		from = filepath.Join(from, "manifest.json")
	}
	return &Source{manifest: from, client: client}, nil
}

// String is the manifest's path or URL, or the peer's name.
func (s *Source) String() string {
	if s.peer != nil {
		return "peer " + s.peerName
	}
	return s.manifest
}

// Manifest reads the manifest and its signature (manifest + ".minisig").
func (s *Source) Manifest(ctx context.Context) (manifest, sig []byte, err error) {
	manifest, err = s.readAll(ctx, s.manifest, MaxManifestSize)
	if err != nil {
		return nil, nil, err
	}
	if s.peer != nil && s.release == "" {
		sum := sha256.Sum256(manifest)
		s.release = hex.EncodeToString(sum[:])
	}
	sig, err = s.readAll(ctx, s.manifest+".minisig", MaxSignatureSize)
	if err != nil {
		return nil, nil, err
	}
	return manifest, sig, nil
}

// Open opens a target file named in the manifest (a plain file name,
// checked by Validate) next to the manifest. The caller closes it and
// checks what it reads.
func (s *Source) Open(ctx context.Context, file string) (io.ReadCloser, error) {
	if !fileRE.MatchString(file) {
		return nil, fmt.Errorf("update: target file %q: not a plain file name", file)
	}
	if s.peer != nil {
		return &peerReader{ctx: ctx, request: s.peer, release: s.release, file: file}, nil
	}
	if s.base == nil {
		f, err := os.Open(filepath.Join(filepath.Dir(s.manifest), file))
		if err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
		return f, nil
	}
	return s.get(ctx, s.base.ResolveReference(&url.URL{Path: file}).String())
}

func (s *Source) readAll(ctx context.Context, name string, limit int64) ([]byte, error) {
	var rc io.ReadCloser
	var err error
	if s.peer != nil {
		rc = &peerReader{ctx: ctx, request: s.peer, release: s.release, file: name}
	} else if s.base == nil {
		rc, err = os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
	} else if rc, err = s.get(ctx, name); err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("update: read %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("update: %s: more than the limit of %d bytes", name, limit)
	}
	return b, nil
}

func (s *Source) get(ctx context.Context, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("update: GET %s: %s", u, resp.Status)
	}
	return resp.Body, nil
}
