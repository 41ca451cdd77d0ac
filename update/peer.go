package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Delivery from peers. A node serves the release it runs (its active slot:
// the manifest and signature it verified at install, and its binary) to
// peers that ask, in chunks, over a request-response protocol such as
// p2p.Host.Handle and Request provide; a node that has no route to a
// download server fetches a release from a neighbour with NewPeerSource.
// The bytes are checked exactly as from any other source: the signature
// against the pinned keys, then the binary's size and sha256.

// PeerProtocol is the request-response protocol's name, under the
// network's prefix (/gridmesh/<network>/update/1).
const PeerProtocol = "update/1"

// PeerChunk is the most a response carries: a peer's request names a file
// and an offset, and a response shorter than PeerChunk ends the file.
const PeerChunk = 1 << 20

// MaxPeerRequest bounds a request's encoding ("<file> <offset>").
const MaxPeerRequest = 256

// ErrNotHeld is what a Server answers for a file it does not serve.
var ErrNotHeld = errors.New("update: no such release file here")

// Server answers peers' requests for the release in the active slot of
// Slots. It serves only files it verified itself: the manifest and its
// signature as they were at install, and the binary for Platform under the
// manifest's name for it.
type Server struct {
	Slots    Slots
	Platform string // the platform of the binaries in the slots, runtime.GOOS + "/" + runtime.GOARCH
}

// Handle answers one request: "<file> <offset>" (decimal) → at most
// PeerChunk bytes of file from offset.
func (s Server) Handle(ctx context.Context, req []byte) ([]byte, error) {
	file, offset, err := parsePeerRequest(req)
	if err != nil {
		return nil, err
	}
	st, err := s.Slots.Load()
	if err != nil {
		return nil, ErrNotHeld
	}
	if st.Active == "" {
		return nil, ErrNotHeld // the launcher's own binary: no signed manifest for it here
	}
	dir := filepath.Dir(s.Slots.Binary(st.Active))
	var path string
	switch file {
	case "manifest.json", "manifest.json.minisig":
		path = filepath.Join(dir, file)
	default:
		b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			return nil, ErrNotHeld
		}
		m, err := ParseManifest(b)
		if err != nil {
			return nil, ErrNotHeld
		}
		t, ok := m.Targets[s.Platform]
		if !ok || t.File != file {
			return nil, ErrNotHeld
		}
		path = s.Slots.Binary(st.Active)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, ErrNotHeld
	}
	defer f.Close()
	buf := make([]byte, PeerChunk)
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("update: read %s: %w", file, err)
	}
	return buf[:n], nil
}

func parsePeerRequest(req []byte) (string, int64, error) {
	bad := fmt.Errorf("update: malformed request (expected \"<file> <offset>\")")
	if len(req) > MaxPeerRequest {
		return "", 0, bad
	}
	file, off, ok := strings.Cut(string(req), " ")
	if !ok || !(fileRE.MatchString(file) || file == "manifest.json.minisig") {
		return "", 0, bad
	}
	offset, err := strconv.ParseInt(off, 10, 64)
	if err != nil || offset < 0 || strconv.FormatInt(offset, 10) != off {
		return "", 0, bad
	}
	return file, offset, nil
}

// Requester sends one request to a peer and returns its response of at
// most maxResp bytes (p2p.Host.Request with the peer and PeerProtocol
// bound).
type Requester func(ctx context.Context, req []byte, maxResp int) ([]byte, error)

// NewPeerSource is a Source whose files come from one peer; name says which
// (for messages).
func NewPeerSource(name string, request Requester) *Source {
	return &Source{manifest: "manifest.json", peer: request, peerName: name}
}

// peerReader reads a file from a peer, chunk by chunk.
type peerReader struct {
	ctx     context.Context
	request Requester
	file    string
	offset  int64
	buf     []byte
	eof     bool
}

func (r *peerReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		b, err := r.fetch()
		if err != nil {
			return 0, fmt.Errorf("update: %s at %d from the peer: %w", r.file, r.offset, err)
		}
		if len(b) > PeerChunk {
			return 0, fmt.Errorf("update: %s from the peer: a chunk of %d bytes", r.file, len(b))
		}
		r.buf, r.eof = b, len(b) < PeerChunk
		r.offset += int64(len(b))
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *peerReader) Close() error { return nil }

// peerRetries is how often a chunk is asked for again after an error: a
// peer rate-limits its requests (p2p.Config.PeerReqRate) and a stream may
// break; each retry waits longer (100 ms, 200 ms, ...).
const peerRetries = 6

func (r *peerReader) fetch() ([]byte, error) {
	req := []byte(r.file + " " + strconv.FormatInt(r.offset, 10))
	var err error
	for i := range peerRetries + 1 {
		if i > 0 {
			select {
			case <-r.ctx.Done():
				return nil, r.ctx.Err()
			case <-time.After(time.Duration(i) * 100 * time.Millisecond):
			}
		}
		var b []byte
		if b, err = r.request(r.ctx, req, PeerChunk); err == nil {
			return b, nil
		}
		if errors.Is(err, ErrNotHeld) {
			break
		}
	}
	return nil, err
}

// keepRelease writes the verified manifest and signature beside the slot's
// binary, so that the node can serve the release to peers once it runs it.
func (s Slots) keepRelease(slot string, manifest, sig []byte) error {
	dir := filepath.Dir(s.Binary(slot))
	if err := writeAtomic(filepath.Join(dir, "manifest.json"), manifest, 0o644); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "manifest.json.minisig"), sig, 0o644)
}
