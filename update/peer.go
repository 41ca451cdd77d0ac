package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Delivery from peers. A node serves the releases its slots hold (Server:
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

// ErrServerBusy is what a Server answers when MaxStreams requests are
// being answered already; the requester asks again later (peerReader
// retries).
var ErrServerBusy = errors.New("update: serving other peers, ask again later")

// DefaultPeerStreams is how many requests a Server answers at once unless
// told otherwise: each holds a PeerChunk buffer and reads the SD card.
const DefaultPeerStreams = 4

// Server answers peers' requests for the releases held in Slots: every
// slot that state.json records (the active one, the one on trial, the
// previous one), except a version rolled back on this device, whose
// manifest and signature kept at install still name the slot's binary
// (Platform's target has the slot's recorded size and sha256). It serves
// nothing else: not the launcher's own binary (it has no signed manifest
// here), not state.json. A slot's binary is hashed once (per size and
// modification time) before any of it is served, so a binary damaged on
// the card is not passed on.
//
// A request is "[<release>/]<file> <offset>": release is the lowercase
// hex sha256 of a manifest.json, and without it the request is for the
// highest version held; the response is at most PeerChunk bytes of file
// from offset (decimal, canonical), and shorter than PeerChunk at its end.
// At most MaxStreams requests are answered at once (ErrServerBusy for the
// others); the p2p host bounds each request's size (MaxPeerRequest), time
// and rate per peer (p2p.Host.Handle). Stats counts what was answered and
// refused. Safe for concurrent use; build it with NewServer.
type Server struct {
	Slots    Slots
	Platform string // the platform of the binaries in the slots, runtime.GOOS + "/" + runtime.GOARCH

	sem    chan struct{}
	mu     sync.Mutex
	hashed map[string]hashedFile // binary path -> the file that was checked
	stats  serverCounters
}

type hashedFile struct {
	size  int64
	mtime time.Time
	ok    bool
}

type serverCounters struct {
	served, bytes, busy, notHeld, malformed atomic.Int64
}

// ServerStats are a Server's counts since it was made.
type ServerStats struct {
	Served    int64 `json:"served"`    // requests answered with bytes
	Bytes     int64 `json:"bytes"`     // bytes sent in those answers
	Busy      int64 `json:"busy"`      // refused: MaxStreams requests were being answered
	NotHeld   int64 `json:"not_held"`  // refused: a file or release this node does not serve
	Malformed int64 `json:"malformed"` // refused: not a request of update/1
}

// NewServer serves the releases in slots for platform, answering at most
// maxStreams requests at once (0: DefaultPeerStreams).
func NewServer(slots Slots, platform string, maxStreams int) *Server {
	if maxStreams <= 0 {
		maxStreams = DefaultPeerStreams
	}
	return &Server{Slots: slots, Platform: platform, sem: make(chan struct{}, maxStreams), hashed: map[string]hashedFile{}}
}

// Stats returns the counts so far.
func (s *Server) Stats() ServerStats {
	return ServerStats{Served: s.stats.served.Load(), Bytes: s.stats.bytes.Load(), Busy: s.stats.busy.Load(),
		NotHeld: s.stats.notHeld.Load(), Malformed: s.stats.malformed.Load()}
}

// Handle answers one request (see Server).
func (s *Server) Handle(ctx context.Context, req []byte) ([]byte, error) {
	release, file, offset, err := parsePeerRequest(req)
	if err != nil {
		s.stats.malformed.Add(1)
		return nil, err
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		s.stats.busy.Add(1)
		return nil, ErrServerBusy
	}
	b, err := s.read(ctx, release, file, offset)
	if errors.Is(err, ErrNotHeld) {
		s.stats.notHeld.Add(1)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	s.stats.served.Add(1)
	s.stats.bytes.Add(int64(len(b)))
	return b, nil
}

// heldRelease is a release a slot holds, as served.
type heldRelease struct {
	slot     string
	version  Version
	hash     string // sha256 of manifest.json
	manifest []byte
	target   Target
}

// held lists the releases the slots hold and may serve (see Server).
func (s *Server) held() []heldRelease {
	st, err := s.Slots.Load()
	if err != nil {
		return nil
	}
	var out []heldRelease
	for _, slot := range []string{SlotA, SlotB} {
		info, ok := st.Slots[slot]
		if !ok || slices.Contains(st.Failed, info.Version) {
			continue
		}
		dir := filepath.Dir(s.Slots.Binary(slot))
		b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			continue
		}
		m, err := ParseManifest(b)
		if err != nil {
			continue
		}
		t, ok := m.Targets[s.Platform]
		if !ok || m.Version != info.Version || t.SHA256 != info.SHA256 || t.Size != info.Size {
			continue // a manifest staged by an apply in progress, or not this slot's
		}
		sum := sha256.Sum256(b)
		out = append(out, heldRelease{slot: slot, version: m.Release(), hash: hex.EncodeToString(sum[:]), manifest: b, target: t})
	}
	return out
}

func (s *Server) read(ctx context.Context, release, file string, offset int64) ([]byte, error) {
	var r *heldRelease
	for _, h := range s.held() {
		if release == h.hash || (release == "" && (r == nil || h.version.Compare(r.version) > 0)) {
			r = &h
		}
	}
	if r == nil {
		return nil, ErrNotHeld
	}
	dir := filepath.Dir(s.Slots.Binary(r.slot))
	var path string
	switch file {
	case "manifest.json":
		return chunk(r.manifest, offset), nil
	case "manifest.json.minisig":
		path = filepath.Join(dir, file)
	case r.target.File:
		path = s.Slots.Binary(r.slot)
		if !s.intact(ctx, path, r.target) {
			return nil, ErrNotHeld
		}
	default:
		return nil, ErrNotHeld
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

func chunk(b []byte, offset int64) []byte {
	if offset >= int64(len(b)) {
		return nil
	}
	return b[offset:min(int64(len(b)), offset+PeerChunk)]
}

// intact reports whether the binary at path has the target's size and
// sha256, hashing it only when its size or modification time changed
// since the last check.
func (s *Server) intact(ctx context.Context, path string, t Target) bool {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != t.Size {
		return false
	}
	s.mu.Lock()
	h, ok := s.hashed[path]
	s.mu.Unlock()
	if ok && h.size == fi.Size() && h.mtime.Equal(fi.ModTime()) {
		return h.ok
	}
	sum, _, err := FileSHA256(path)
	if err != nil || ctx.Err() != nil {
		return false
	}
	s.mu.Lock()
	s.hashed[path] = hashedFile{size: fi.Size(), mtime: fi.ModTime(), ok: sum == t.SHA256}
	s.mu.Unlock()
	return sum == t.SHA256
}

var releaseRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parsePeerRequest decodes "[<release>/]<file> <offset>" strictly.
func parsePeerRequest(req []byte) (release, file string, offset int64, err error) {
	bad := errors.New("update: malformed request (expected \"[<release>/]<file> <offset>\")")
	if len(req) > MaxPeerRequest {
		return "", "", 0, bad
	}
	name, off, ok := strings.Cut(string(req), " ")
	if !ok {
		return "", "", 0, bad
	}
	if r, f, ok := strings.Cut(name, "/"); ok {
		if !releaseRE.MatchString(r) {
			return "", "", 0, bad
		}
		release, name = r, f
	}
	if !(fileRE.MatchString(name) || name == "manifest.json.minisig") {
		return "", "", 0, bad
	}
	offset, perr := strconv.ParseInt(off, 10, 64)
	if perr != nil || offset < 0 || strconv.FormatInt(offset, 10) != off {
		return "", "", 0, bad
	}
	return release, name, offset, nil
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
	release string // "" for the peer's highest version, else a manifest's sha256
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
	name := r.file
	if r.release != "" {
		name = r.release + "/" + r.file
	}
	req := []byte(name + " " + strconv.FormatInt(r.offset, 10))
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
