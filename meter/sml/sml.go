package sml

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// MaxFrame is the largest transport frame Decode accepts.
const MaxFrame = 16 << 10

// maxDepth bounds list nesting (real files nest 5 deep).
const maxDepth = 16

var (
	// ErrFrame is wrapped by errors about the transport frame.
	ErrFrame = errors.New("sml: bad transport frame")
	// ErrCRC is returned when a transport or message CRC does not match.
	ErrCRC = errors.New("sml: crc mismatch")
	// ErrSyntax is wrapped by errors about malformed messages.
	ErrSyntax = errors.New("sml: malformed message")
)

var (
	escape = []byte{0x1b, 0x1b, 0x1b, 0x1b}
	start  = []byte{0x1b, 0x1b, 0x1b, 0x1b, 0x01, 0x01, 0x01, 0x01}
)

// CRC16 is CRC-16/X-25 (reflected 0x1021, init 0xFFFF, final xor 0xFFFF).
func CRC16(b []byte) uint16 {
	crc := uint16(0xffff)
	for _, x := range b {
		crc ^= uint16(x)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x8408
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

// Unframe checks a transport v1 frame (start sequence to CRC) and returns
// the message bytes inside it, unescaped and without fill bytes.
func Unframe(frame []byte) ([]byte, error) {
	if len(frame) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFrame, len(frame), MaxFrame)
	}
	if !bytes.HasPrefix(frame, start) {
		return nil, fmt.Errorf("%w: no start sequence", ErrFrame)
	}
	if len(frame)%4 != 0 || len(frame) < 16 {
		return nil, fmt.Errorf("%w: length %d is not a multiple of 4", ErrFrame, len(frame))
	}
	var out []byte
	for i := 8; ; i += 4 {
		if i+4 > len(frame) {
			return nil, fmt.Errorf("%w: no end sequence", ErrFrame)
		}
		chunk := frame[i : i+4]
		if !bytes.Equal(chunk, escape) {
			out = append(out, chunk...)
			continue
		}
		if i+8 > len(frame) {
			return nil, fmt.Errorf("%w: truncated escape", ErrFrame)
		}
		next := frame[i+4 : i+8]
		switch {
		case bytes.Equal(next, escape):
			out = append(out, escape...)
			i += 4
		case next[0] == 0x1a:
			if i+8 != len(frame) {
				return nil, fmt.Errorf("%w: bytes after the end sequence", ErrFrame)
			}
			want := uint16(next[2]) | uint16(next[3])<<8
			if got := CRC16(frame[:len(frame)-2]); got != want {
				return nil, fmt.Errorf("%w: frame says %04x, computed %04x", ErrCRC, want, got)
			}
			fill := int(next[1])
			if fill > 3 || fill > len(out) {
				return nil, fmt.Errorf("%w: %d fill bytes", ErrFrame, fill)
			}
			for _, b := range out[len(out)-fill:] {
				if b != 0 {
					return nil, fmt.Errorf("%w: non-zero fill byte", ErrFrame)
				}
			}
			return out[:len(out)-fill], nil
		default:
			return nil, fmt.Errorf("%w: unknown escape %x", ErrFrame, next)
		}
	}
}

// Frame wraps messages in a transport v1 frame (escaping, fill, CRC); the
// inverse of Unframe.
func Frame(msgs []byte) []byte {
	b := bytes.Clone(start)
	for i := 0; i < len(msgs); i += 4 {
		end := min(i+4, len(msgs))
		chunk := msgs[i:end]
		if bytes.Equal(chunk, escape) {
			b = append(b, escape...)
		}
		b = append(b, chunk...)
	}
	fill := (4 - len(msgs)%4) % 4
	b = append(b, make([]byte, fill)...)
	b = append(b, 0x1b, 0x1b, 0x1b, 0x1b, 0x1a, byte(fill))
	crc := CRC16(b)
	return append(b, byte(crc), byte(crc>>8))
}

// Kind is the type of a Node.
type Kind uint8

const (
	Absent Kind = iota // an optional value that is not set (0x01)
	Octets
	Bool
	Int
	Uint
	List
)

// Node is one decoded SML value.
type Node struct {
	Kind  Kind
	Bytes []byte // Octets
	Int   int64  // Int, and Bool (0/1)
	Uint  uint64 // Uint
	Size  int    // Int/Uint: encoded size in bytes (1, 2, 4, 8 or others up to 8)
	List  []Node // List
}

// Message is one SML message.
type Message struct {
	TransactionID []byte
	Group         uint8
	AbortOnError  uint8
	Tag           uint32 // TagOpenResponse, TagGetListResponse, TagCloseResponse, ...
	Body          Node
}

// File is the content of one transport frame.
type File struct {
	Messages []Message
}

// Decode decodes one transport frame: Unframe, then messages until the end.
// Every message CRC is checked.
func Decode(frame []byte) (File, error) {
	msgs, err := Unframe(frame)
	if err != nil {
		return File{}, err
	}
	return DecodeMessages(msgs)
}

// DecodeMessages decodes the messages of a file (the unframed bytes).
func DecodeMessages(b []byte) (File, error) {
	var f File
	for len(b) > 0 {
		m, n, err := decodeMessage(b)
		if err != nil {
			return File{}, fmt.Errorf("message %d: %w", len(f.Messages), err)
		}
		f.Messages = append(f.Messages, m)
		b = b[n:]
	}
	if len(f.Messages) == 0 {
		return File{}, fmt.Errorf("%w: no messages", ErrSyntax)
	}
	return f, nil
}

func decodeMessage(b []byte) (Message, int, error) {
	var m Message
	if len(b) == 0 || b[0] != 0x76 {
		return m, 0, fmt.Errorf("%w: a message is a list of 6", ErrSyntax)
	}
	d := &dec{b: b, pos: 1}
	var parts [5]Node
	for i := range 4 {
		parts[i] = d.node(1)
	}
	crcStart := d.pos
	parts[4] = d.node(1)
	if d.err != nil {
		return m, 0, d.err
	}
	if d.pos >= len(b) || b[d.pos] != 0x00 {
		return m, 0, fmt.Errorf("%w: no end-of-message", ErrSyntax)
	}
	d.pos++
	tid, g, a, body, crc := parts[0], parts[1], parts[2], parts[3], parts[4]
	if crc.Kind != Uint || crc.Size > 2 {
		return m, 0, fmt.Errorf("%w: message crc is not unsigned16", ErrSyntax)
	}
	// The CRC covers the message up to the CRC field's TL byte and is sent
	// low byte first, like the transport CRC.
	if got := bits.ReverseBytes16(CRC16(b[:crcStart])); got != uint16(crc.Uint) {
		return m, 0, fmt.Errorf("%w: message says %04x, computed %04x", ErrCRC, crc.Uint, got)
	}
	if tid.Kind != Octets || g.Kind != Uint || a.Kind != Uint || g.Uint > 255 || a.Uint > 255 {
		return m, 0, fmt.Errorf("%w: bad message header", ErrSyntax)
	}
	if body.Kind != List || len(body.List) != 2 || body.List[0].Kind != Uint || body.List[0].Uint > 1<<32-1 {
		return m, 0, fmt.Errorf("%w: bad message body", ErrSyntax)
	}
	m.TransactionID = tid.Bytes
	m.Group, m.AbortOnError = uint8(g.Uint), uint8(a.Uint)
	m.Tag = uint32(body.List[0].Uint)
	m.Body = body.List[1]
	return m, d.pos, nil
}

// dec decodes TL-encoded values from b, remembering the first error.
type dec struct {
	b   []byte
	pos int
	err error
}

func (d *dec) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: at byte %d: %s", ErrSyntax, d.pos, fmt.Sprintf(format, a...))
	}
}

// node decodes one value.
func (d *dec) node(depth int) Node {
	if d.err != nil {
		return Node{}
	}
	if depth > maxDepth {
		d.fail("nested too deep")
		return Node{}
	}
	if d.pos >= len(d.b) {
		d.fail("truncated")
		return Node{}
	}
	first := d.b[d.pos]
	if first == 0x00 {
		d.fail("unexpected end-of-message")
		return Node{}
	}
	typ := first >> 4 & 0x7
	length := int(first & 0x0f)
	tl := 1
	for more := first&0x80 != 0; more; {
		if d.pos+tl >= len(d.b) {
			d.fail("truncated TL")
			return Node{}
		}
		c := d.b[d.pos+tl]
		if c&0x70 != 0 {
			d.fail("bad TL continuation %#x", c)
			return Node{}
		}
		length = length<<4 | int(c&0x0f)
		more = c&0x80 != 0
		tl++
		if tl > 4 {
			d.fail("TL longer than 4 bytes")
			return Node{}
		}
	}
	if typ == 7 { // list: length counts elements
		d.pos += tl
		if length > len(d.b)-d.pos {
			d.fail("list of %d elements in %d bytes", length, len(d.b)-d.pos)
			return Node{}
		}
		n := Node{Kind: List, List: make([]Node, 0, length)}
		for range length {
			c := d.node(depth + 1)
			if d.err != nil {
				return Node{}
			}
			n.List = append(n.List, c)
		}
		return n
	}
	if length < tl || d.pos+length > len(d.b) {
		d.fail("length %d with %d TL bytes, %d left", length, tl, len(d.b)-d.pos)
		return Node{}
	}
	data := d.b[d.pos+tl : d.pos+length]
	d.pos += length
	switch typ {
	case 0:
		if tl == 1 && length == 1 {
			return Node{Kind: Absent}
		}
		return Node{Kind: Octets, Bytes: bytes.Clone(data)}
	case 4:
		if len(data) != 1 {
			d.fail("boolean of %d bytes", len(data))
			return Node{}
		}
		var v int64
		if data[0] != 0 {
			v = 1
		}
		return Node{Kind: Bool, Int: v, Size: 1}
	case 5, 6:
		if len(data) == 0 || len(data) > 8 {
			d.fail("integer of %d bytes", len(data))
			return Node{}
		}
		var buf [8]byte
		copy(buf[8-len(data):], data)
		u := binary.BigEndian.Uint64(buf[:])
		if typ == 6 {
			return Node{Kind: Uint, Uint: u, Size: len(data)}
		}
		shift := 64 - 8*len(data)
		return Node{Kind: Int, Int: int64(u<<shift) >> shift, Size: len(data)}
	default:
		d.fail("unknown type %d", typ)
		return Node{}
	}
}
