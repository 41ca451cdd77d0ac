package p2p

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
	"unicode/utf8"
)

// ErrAudit is wrapped by every error ReadAudit returns for a malformed capture.
var ErrAudit = errors.New("p2p: malformed audit capture")

// maxAuditText bounds the peer id and address of a stream record.
const maxAuditText = 512

// AuditRecord is one record of an audit capture (audit.go). Start records
// have Peer, Addr and Outbound; data records have Data.
type AuditRecord struct {
	Start    bool      // a stream's first record; otherwise data
	Time     time.Time // when the host wrote it
	Stream   uint64    // the stream, numbered from 1 in the capture
	Outbound bool      // the stream was opened by this host (start records)
	Peer     string    // the peer's id (start records)
	Addr     string    // the peer's address (start records)
	Data     []byte    // what the host wrote (data records); valid until fn returns
}

// ReadAudit reads a capture and calls fn with each record in order,
// stopping at fn's first error, which it returns. A capture cut short
// inside a record (the node stopped while writing it) ends without error
// at the last whole record; anything else malformed is an error wrapping
// ErrAudit: a data record of a stream not started, a stream started
// twice, an unknown kind, text that is not UTF-8, a record over its size.
func ReadAudit(r io.Reader, fn func(AuditRecord) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(AuditMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != AuditMagic {
		return fmt.Errorf("%w: does not begin with %q", ErrAudit, AuditMagic)
	}
	started := make(map[uint64]bool)
	buf := make([]byte, 0, 4<<10)
	for off := int64(len(AuditMagic)); ; {
		n, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil || n > 1+8+binary.MaxVarintLen64+AuditChunk+2*maxAuditText {
			return fmt.Errorf("%w: record at byte %d: bad length", ErrAudit, off)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		b := buf[:n]
		if _, err := io.ReadFull(br, b); err != nil {
			return nil // cut short
		}
		rec, err := parseAuditRecord(b, started)
		if err != nil {
			return fmt.Errorf("%w: record at byte %d: %v", ErrAudit, off, err)
		}
		if err := fn(rec); err != nil {
			return err
		}
		off += int64(uvarintLen(n)) + int64(n)
	}
}

// parseAuditRecord decodes one record's bytes; started holds the streams
// seen so far and is updated.
func parseAuditRecord(b []byte, started map[uint64]bool) (AuditRecord, error) {
	if len(b) < 10 {
		return AuditRecord{}, errors.New("too short")
	}
	kind := b[0]
	t := int64(binary.BigEndian.Uint64(b[1:9]))
	stream, k := binary.Uvarint(b[9:])
	if k <= 0 || stream == 0 {
		return AuditRecord{}, errors.New("bad stream number")
	}
	rest := b[9+k:]
	rec := AuditRecord{Time: time.Unix(0, t), Stream: stream}
	switch kind {
	case auditStart:
		if started[stream] {
			return AuditRecord{}, fmt.Errorf("stream %d started twice", stream)
		}
		if len(rest) < 1 || (rest[0] != 'o' && rest[0] != 'i') {
			return AuditRecord{}, errors.New("bad direction")
		}
		rec.Start, rec.Outbound = true, rest[0] == 'o'
		var err error
		rest = rest[1:]
		if rec.Peer, rest, err = auditText(rest); err != nil {
			return AuditRecord{}, fmt.Errorf("peer: %v", err)
		}
		if rec.Addr, rest, err = auditText(rest); err != nil {
			return AuditRecord{}, fmt.Errorf("address: %v", err)
		}
		if len(rest) != 0 {
			return AuditRecord{}, errors.New("trailing bytes")
		}
		started[stream] = true
	case auditData:
		if !started[stream] {
			return AuditRecord{}, fmt.Errorf("data of stream %d before its start", stream)
		}
		if len(rest) == 0 || len(rest) > AuditChunk {
			return AuditRecord{}, fmt.Errorf("%d bytes of data, expected 1 to %d", len(rest), AuditChunk)
		}
		rec.Data = rest
	default:
		return AuditRecord{}, fmt.Errorf("unknown kind %#x", kind)
	}
	return rec, nil
}

// auditText reads a uvarint-length UTF-8 string off b.
func auditText(b []byte) (string, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxAuditText || n > uint64(len(b)-k) {
		return "", nil, errors.New("bad length")
	}
	s := b[k : k+int(n)]
	if !utf8.Valid(s) {
		return "", nil, errors.New("not UTF-8")
	}
	return string(s), b[k+int(n):], nil
}

// AuditStream sums up one stream of a capture.
type AuditStream struct {
	Stream   uint64    `json:"stream"`
	Time     time.Time `json:"time"` // its first write
	Outbound bool      `json:"outbound"`
	Peer     string    `json:"peer"`
	Addr     string    `json:"addr"`
	// Protocol is the protocol id this host proposed (a stream it opened) or
	// accepted (one the peer opened) last in the stream's multistream-select
	// negotiation, as its own bytes show; "" if they show none.
	Protocol string `json:"protocol"`
	Bytes    int64  `json:"bytes"`
}

// protocolPrefix is how much of a stream's first bytes AuditStreams keeps
// to find its protocol.
const protocolPrefix = 1 << 10

// AuditStreams reads a capture whole and sums it up per stream, in stream
// order.
func AuditStreams(r io.Reader) ([]AuditStream, error) {
	byID := make(map[uint64]*AuditStream)
	heads := make(map[uint64][]byte)
	err := ReadAudit(r, func(rec AuditRecord) error {
		if rec.Start {
			byID[rec.Stream] = &AuditStream{Stream: rec.Stream, Time: rec.Time, Outbound: rec.Outbound, Peer: rec.Peer, Addr: rec.Addr}
			return nil
		}
		byID[rec.Stream].Bytes += int64(len(rec.Data))
		if h := heads[rec.Stream]; len(h) < protocolPrefix {
			heads[rec.Stream] = append(h, rec.Data[:min(len(rec.Data), protocolPrefix-len(h))]...)
		}
		return nil
	})
	out := make([]AuditStream, 0, len(byID))
	for id, s := range byID {
		s.Protocol = negotiated(heads[id])
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out, err
}

// negotiated reads the multistream-select messages at the start of b (each
// a uvarint length and a line ending in '\n') and returns the last protocol
// id among them, other than multistream's own.
func negotiated(b []byte) string {
	proto := ""
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n < 2 || n > uint64(len(b)-k) {
			break
		}
		msg := b[k : k+int(n)]
		if msg[len(msg)-1] != '\n' || bytes.ContainsAny(msg[:len(msg)-1], "\n\x00") || !utf8.Valid(msg) {
			break
		}
		line := string(msg[:len(msg)-1])
		switch {
		case line == "/multistream/1.0.0", line == "na", line == "ls":
		case len(line) > 1 && line[0] == '/':
			proto = line
		default:
			return proto
		}
		b = b[k+int(n):]
	}
	return proto
}
