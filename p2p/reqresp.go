package p2p

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Request/response errors.
var (
	ErrFrameTooLarge = errors.New("p2p: frame too large")
	ErrRemote        = errors.New("p2p: remote error")
)

const (
	statusOK  = 0
	statusErr = 1
	// maxErrText bounds the error text a handler's failure sends back.
	maxErrText = 256
)

// ProtocolID returns the stream protocol id of proto on network: /gridmesh/<network>/<proto>.
func ProtocolID(network, proto string) string {
	return "/gridmesh/" + network + "/" + strings.TrimPrefix(proto, "/")
}

// Handle serves proto (e.g. "sync/blocks/1") under /gridmesh/<network>/. Requests
// larger than max bytes are refused without reading them; each exchange must finish
// within DefaultTimeout (fn's ctx carries that deadline); each peer may make
// PeerReqRate requests per second per protocol (burst twice that), the rest are
// answered with an error. An error from fn is sent to the requester as its text.
// Handle replaces any earlier handler of proto. A proto in Config.Withhold
// is not served: Handle does nothing.
func (n *Host) Handle(proto string, max int, fn func(ctx context.Context, from ed25519.PublicKey, req []byte) ([]byte, error)) {
	if n.withheld(proto) {
		return
	}
	pid := protocol.ID(ProtocolID(n.cfg.Network, proto))
	n.h.SetStreamHandler(pid, func(s network.Stream) {
		n.serve(s, pid, max, fn)
	})
}

func (n *Host) serve(s network.Stream, pid protocol.ID, max int, fn func(context.Context, ed25519.PublicKey, []byte) ([]byte, error)) {
	defer s.Close()
	ctx, cancel := context.WithTimeout(n.life(), DefaultTimeout)
	defer cancel()
	_ = s.SetDeadline(time.Now().Add(DefaultTimeout))
	remote := s.Conn().RemotePeer()
	from, err := pubKeyOf(remote)
	if err != nil {
		_ = s.Reset()
		return
	}
	if !n.reqRate.allow(string(remote)+string(pid), n.now()) {
		_ = writeResponse(s, nil, ErrRateLimited)
		return
	}
	req, err := readFrame(bufio.NewReader(s), max)
	if err != nil {
		n.log.Debug("bad request", "peer", remote.String(), "proto", string(pid), "err", err)
		_ = s.Reset()
		return
	}
	resp, ferr := fn(ctx, from, req)
	if err := writeResponse(s, resp, ferr); err != nil {
		_ = s.Reset()
	}
}

// Request sends req to peer (a peer id, or a full multiaddr with /p2p/<id>) on proto
// and returns the response, which may be at most maxResp bytes. The exchange is
// bounded by ctx and by DefaultTimeout, whichever ends first. A handler's error
// comes back wrapped in ErrRemote.
func (n *Host) Request(ctx context.Context, peerAddr string, proto string, req []byte, maxResp int) ([]byte, error) {
	_, resp, err := n.RequestFirst(ctx, peerAddr, []string{proto}, func(string) []byte { return req }, maxResp)
	return resp, err
}

// RequestFirst is Request on the first of protos (most preferred first) that
// the peer speaks: libp2p's multistream-select agrees on it as the stream
// opens, so a node that speaks "sync/3" and "sync/2" asks a peer of the
// previous release, which serves only "sync/2", in that. req builds the
// request for the protocol agreed on, whose name (as in protos) comes back
// with the response.
func (n *Host) RequestFirst(ctx context.Context, peerAddr string, protos []string, req func(proto string) []byte, maxResp int) (string, []byte, error) {
	p, err := n.peerOf(peerAddr)
	if err != nil {
		return "", nil, err
	}
	pids := make([]protocol.ID, len(protos))
	for i, proto := range protos {
		pids[i] = protocol.ID(ProtocolID(n.cfg.Network, proto))
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	s, err := n.h.NewStream(ctx, p, pids...)
	if err != nil {
		return "", nil, fmt.Errorf("open %s to %s: %w", pids[0], p, err)
	}
	defer s.Close()
	pid := s.Protocol()
	proto := protos[0]
	if i := slices.Index(pids, pid); i >= 0 {
		proto = protos[i]
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()

	if err := writeFrame(s, req(proto)); err != nil {
		_ = s.Reset()
		return "", nil, fmt.Errorf("send %s to %s: %w", pid, p, err)
	}
	if err := s.CloseWrite(); err != nil {
		_ = s.Reset()
		return "", nil, fmt.Errorf("send %s to %s: %w", pid, p, err)
	}
	resp, err := readResponse(bufio.NewReader(s), maxResp)
	if err != nil {
		_ = s.Reset()
		if ctx.Err() != nil || pastDeadline(ctx) {
			// The stream deadline (= ctx's) may fire before ctx notices.
			err = context.DeadlineExceeded
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		}
		return "", nil, fmt.Errorf("response %s from %s: %w", pid, p, err)
	}
	return proto, resp, nil
}

// peerOf parses a peer id, or a full multiaddr with /p2p/<id> (whose address
// it adds to the peerstore for a while).
func (n *Host) peerOf(peerAddr string) (peer.ID, error) {
	if strings.HasPrefix(peerAddr, "/") {
		ai, err := peer.AddrInfoFromString(peerAddr)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", peerAddr, err)
		}
		n.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		return ai.ID, nil
	}
	p, err := peer.Decode(peerAddr)
	if err != nil {
		return "", fmt.Errorf("peer id %q: %w", peerAddr, err)
	}
	return p, nil
}

// withheld reports whether proto is in Config.Withhold.
func (n *Host) withheld(proto string) bool {
	return slices.ContainsFunc(n.cfg.Withhold, func(w string) bool {
		return strings.TrimPrefix(w, "/") == strings.TrimPrefix(proto, "/")
	})
}

// Speaks returns the first of protos (most preferred first) that peerID has
// announced it serves (libp2p's identify exchange, done as a connection
// opens), and false if it announced none of them or is not known yet. A
// sender of one-way messages (Send) picks the version to write with it.
func (n *Host) Speaks(peerID string, protos ...string) (string, bool) {
	p, err := peer.Decode(peerID)
	if err != nil {
		return "", false
	}
	ids := make([]protocol.ID, len(protos))
	for i, proto := range protos {
		ids[i] = protocol.ID(ProtocolID(n.cfg.Network, proto))
	}
	got, err := n.h.Peerstore().FirstSupportedProtocol(p, ids...)
	if err != nil || got == "" {
		return "", false
	}
	return protos[slices.Index(ids, got)], true
}

func writeFrame(w io.Writer, b []byte) error {
	buf := make([]byte, 0, binary.MaxVarintLen64+len(b))
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	buf = append(buf, b...)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one length-prefixed frame of at most max bytes, checking the
// length before reading the body.
func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	v, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, fmt.Errorf("frame length: %w", err)
	}
	if v > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, v, max)
	}
	// Grow the buffer as the bytes arrive: a peer that announces a large
	// frame and sends nothing holds no more memory than it sent.
	b := make([]byte, 0, min(v, frameStep))
	for uint64(len(b)) < v {
		n := min(v-uint64(len(b)), frameStep)
		b = slices.Grow(b, int(n))
		if _, err := io.ReadFull(r, b[len(b):len(b)+int(n)]); err != nil {
			return nil, fmt.Errorf("frame body: %w", err)
		}
		b = b[:len(b)+int(n)]
	}
	return b, nil
}

// frameStep is how much of a frame's body readFrame reads (and allocates) at a time.
const frameStep = 64 << 10

func writeResponse(w io.Writer, resp []byte, ferr error) error {
	if ferr != nil {
		msg := ferr.Error()
		if len(msg) > maxErrText {
			msg = msg[:maxErrText]
		}
		if _, err := w.Write([]byte{statusErr}); err != nil {
			return err
		}
		return writeFrame(w, []byte(msg))
	}
	if _, err := w.Write([]byte{statusOK}); err != nil {
		return err
	}
	return writeFrame(w, resp)
}

func readResponse(r *bufio.Reader, maxResp int) ([]byte, error) {
	st, err := r.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	switch st {
	case statusOK:
		return readFrame(r, maxResp)
	case statusErr:
		msg, err := readFrame(r, maxErrText)
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrRemote, msg)
	default:
		return nil, fmt.Errorf("status byte %d", st)
	}
}

func pastDeadline(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
