package consensus

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/gridmesh/gridmesh/ident"
)

// Size limits of the strict decoders.
const (
	MaxValueSize   = 4 << 20                                    // bytes of a proposed value
	MaxMessageSize = MaxValueSize + 256                         // bytes of an encoded Message
	MaxCommitSize  = 1024                                       // precommits in a certificate
	MaxStateSize   = 5*MaxMessageSize + MaxCommitSize*256 + 256 // bytes of an encoded State
	MaxRound       = 1 << 30                                    // rounds above this are malformed
)

const (
	msgVersion   = 1
	stateVersion = 1
	signDomain   = "gridmesh/consensus/v1\x00"
)

// SignBytes is the deterministic encoding that is signed: a domain tag, the chain id
// and every field but Sig.
func (m Message) SignBytes(chainID string) []byte {
	b := make([]byte, 0, len(signDomain)+2+len(chainID)+64+len(m.From)+len(m.Value))
	b = append(b, signDomain...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(chainID)))
	b = append(b, chainID...)
	return m.appendBody(b)
}

func (m Message) appendBody(b []byte) []byte {
	b = append(b, byte(m.Type))
	b = binary.BigEndian.AppendUint64(b, m.Height)
	b = binary.BigEndian.AppendUint32(b, uint32(m.Round))
	b = binary.BigEndian.AppendUint32(b, uint32(m.ValidRound))
	b = append(b, m.ValueID[:]...)
	b = append(b, byte(len(m.From)))
	b = append(b, m.From...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Value)))
	return append(b, m.Value...)
}

// Encode returns the canonical binary encoding (version, body, signature).
func (m Message) Encode() []byte {
	b := make([]byte, 0, 64+len(m.From)+len(m.Value)+len(m.Sig))
	b = append(b, msgVersion)
	b = m.appendBody(b)
	b = append(b, byte(len(m.Sig)))
	return append(b, m.Sig...)
}

// Verify checks m's structure and its signature by pub.
func (m Message) Verify(chainID string, pub ed25519.PublicKey) error {
	if err := m.check(); err != nil {
		return err
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, m.SignBytes(chainID), m.Sig) {
		return fmt.Errorf("%w: %s from %.8s at %d/%d", ErrBadSignature, m.Type, m.From, m.Height, m.Round)
	}
	return nil
}

// check is ValidateBasic: the structural rules every accepted Message satisfies.
func (m Message) check() error {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }
	switch m.Type {
	case Proposal:
		if m.ValueID.IsZero() {
			return bad("proposal without value id")
		}
		if m.ValidRound < -1 || m.ValidRound >= m.Round {
			return bad("proposal valid round out of range")
		}
		if len(m.Value) > MaxValueSize {
			return bad("value too large")
		}
	case Prevote, Precommit:
		if m.ValidRound != -1 || len(m.Value) != 0 {
			return bad("vote with valid round or value")
		}
	default:
		return bad("unknown type")
	}
	if m.Round < 0 || m.Round > MaxRound {
		return bad("round out of range")
	}
	if m.From.Check() != nil {
		return bad("sender id")
	}
	if len(m.Sig) != ed25519.SignatureSize {
		return bad("signature length")
	}
	return nil
}

// reader is a bounds-checked big-endian reader; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) hash() (h ident.Hash) {
	if b := r.take(32); b != nil {
		copy(h[:], b)
	}
	return h
}

// bytesN reads a u32 length and that many bytes (copied), at most max.
func (r *reader) bytesN(max int) []byte {
	n := r.u32()
	if r.err == nil && n > uint32(max) {
		r.err = fmt.Errorf("%w: field of %d bytes", ErrTooLarge, n)
		return nil
	}
	b := r.take(int(n))
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// DecodeMessage strictly decodes a Message: bounded sizes, valid structure (see
// Message), no trailing bytes. The signature is not verified (see Verify).
func DecodeMessage(b []byte) (Message, error) {
	if len(b) > MaxMessageSize {
		return Message{}, fmt.Errorf("%w: message of %d bytes", ErrTooLarge, len(b))
	}
	r := &reader{b: b}
	m, err := decodeMessage(r)
	if err != nil {
		return Message{}, err
	}
	if len(r.b) != 0 {
		return Message{}, fmt.Errorf("%w: %d after message", ErrTrailing, len(r.b))
	}
	return m, nil
}

func decodeMessage(r *reader) (Message, error) {
	if v := r.u8(); r.err == nil && v != msgVersion {
		return Message{}, fmt.Errorf("%w: message version %d", ErrUnknownVersion, v)
	}
	var m Message
	m.Type = MsgType(r.u8())
	m.Height = r.u64()
	m.Round = int32(r.u32())
	m.ValidRound = int32(r.u32())
	m.ValueID = r.hash()
	m.From = ident.Account(r.take(int(r.u8())))
	m.Value = r.bytesN(MaxValueSize)
	sig := r.take(int(r.u8()))
	if r.err != nil {
		return Message{}, r.err
	}
	m.Sig = bytes.Clone(sig)
	if err := m.check(); err != nil {
		return Message{}, err
	}
	return m, nil
}

// RoundStep is the step of Algorithm 1 within a round, plus StepNewHeight: the
// engine entered the height and waits for Work or a message of that height.
type RoundStep uint8

// Steps, ordered (step_p ≥ prevote compares these).
const (
	StepNewHeight RoundStep = 0
	StepPropose   RoundStep = 1
	StepPrevote   RoundStep = 2
	StepPrecommit RoundStep = 3
)

func (s RoundStep) String() string {
	switch s {
	case StepNewHeight:
		return "newheight"
	case StepPropose:
		return "propose"
	case StepPrevote:
		return "prevote"
	case StepPrecommit:
		return "precommit"
	}
	return fmt.Sprintf("step(%d)", uint8(s))
}

// State is everything that must survive a restart: h_p, round_p, step_p, the lock
// and the valid value of Algorithm 1, and the last message this node signed of each
// type (the last-signed record that stops a restarted node from signing anything
// conflicting). LockedRound/ValidRound -1 means none (ID zero, Value empty).
type State struct {
	Height uint64
	Round  int32
	Step   RoundStep

	LockedRound int32
	LockedID    ident.Hash
	LockedValue []byte

	ValidRound int32
	ValidID    ident.Hash
	ValidValue []byte
	// ValidPolka is the proof of ValidValue: the > 2/3 prevotes of ValidRound for
	// ValidID (sorted by validator). It is re-broadcast with the value so that peers
	// that lost those prevotes (restart, loss) can still apply line 28.
	ValidPolka []Message

	LastProposal  *Message // nil = never signed one
	LastPrevote   *Message
	LastPrecommit *Message

	// Decision is the decision of height Height-1, kept from the moment it is made
	// until the first State persisted after it was handed out and round 0 began. If the process dies after persisting this
	// State but before the application committed the value, New (asked for
	// Height-1) hands the Decision out again. Nil otherwise.
	Decision *Decision
}

// clone returns a deep copy.
func (s State) clone() State {
	c := s
	c.LockedValue = bytes.Clone(s.LockedValue)
	c.ValidValue = bytes.Clone(s.ValidValue)
	c.ValidPolka = slices.Clone(s.ValidPolka)
	for _, p := range []**Message{&c.LastProposal, &c.LastPrevote, &c.LastPrecommit} {
		if *p != nil {
			m := **p
			m.Value = bytes.Clone(m.Value)
			m.Sig = bytes.Clone(m.Sig)
			*p = &m
		}
	}
	if s.Decision != nil {
		d := *s.Decision
		d.Value = bytes.Clone(d.Value)
		d.Commit = slices.Clone(d.Commit)
		c.Decision = &d
	}
	return c
}

// Encode returns the canonical binary encoding of s.
func (s State) Encode() []byte {
	b := []byte{stateVersion}
	b = binary.BigEndian.AppendUint64(b, s.Height)
	b = binary.BigEndian.AppendUint32(b, uint32(s.Round))
	b = append(b, byte(s.Step))
	b = binary.BigEndian.AppendUint32(b, uint32(s.LockedRound))
	b = append(b, s.LockedID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.LockedValue)))
	b = append(b, s.LockedValue...)
	b = binary.BigEndian.AppendUint32(b, uint32(s.ValidRound))
	b = append(b, s.ValidID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.ValidValue)))
	b = append(b, s.ValidValue...)
	b = appendMessages(b, s.ValidPolka)
	for _, m := range []*Message{s.LastProposal, s.LastPrevote, s.LastPrecommit} {
		if m == nil {
			b = append(b, 0)
			continue
		}
		enc := m.Encode()
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, uint32(len(enc)))
		b = append(b, enc...)
	}
	if d := s.Decision; d == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint32(b, uint32(d.Round))
		b = append(b, d.ValueID[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(d.Value)))
		b = append(b, d.Value...)
		b = appendMessages(b, d.Commit)
	}
	return b
}

func appendMessages(b []byte, ms []Message) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(ms)))
	for _, m := range ms {
		enc := m.Encode()
		b = binary.BigEndian.AppendUint32(b, uint32(len(enc)))
		b = append(b, enc...)
	}
	return b
}

// messages reads what appendMessages wrote (at most MaxCommitSize votes).
func (r *reader) messages() ([]Message, error) {
	n := r.u32()
	if r.err == nil && n > MaxCommitSize {
		return nil, fmt.Errorf("%w: %d messages", ErrTooLarge, n)
	}
	var out []Message
	for i := 0; r.err == nil && i < int(n); i++ {
		enc := r.bytesN(MaxMessageSize)
		if r.err != nil {
			break
		}
		m, err := DecodeMessage(enc)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, r.err
}

// DecodeState strictly decodes a State (bounded sizes, consistent fields, no
// trailing bytes).
func DecodeState(b []byte) (State, error) {
	if len(b) > MaxStateSize {
		return State{}, fmt.Errorf("%w: state of %d bytes", ErrTooLarge, len(b))
	}
	r := &reader{b: b}
	if v := r.u8(); r.err == nil && v != stateVersion {
		return State{}, fmt.Errorf("%w: state version %d", ErrUnknownVersion, v)
	}
	var s State
	s.Height = r.u64()
	s.Round = int32(r.u32())
	s.Step = RoundStep(r.u8())
	s.LockedRound = int32(r.u32())
	s.LockedID = r.hash()
	s.LockedValue = r.bytesN(MaxValueSize)
	s.ValidRound = int32(r.u32())
	s.ValidID = r.hash()
	s.ValidValue = r.bytesN(MaxValueSize)
	polka, err := r.messages()
	if err != nil {
		return State{}, fmt.Errorf("valid polka: %w", err)
	}
	s.ValidPolka = polka
	for i, p := range []**Message{&s.LastProposal, &s.LastPrevote, &s.LastPrecommit} {
		switch r.u8() {
		case 0:
		case 1:
			enc := r.bytesN(MaxMessageSize)
			if r.err != nil {
				return State{}, r.err
			}
			m, err := DecodeMessage(enc)
			if err != nil {
				return State{}, fmt.Errorf("last signed %s: %w", MsgType(i+1), err)
			}
			if m.Type != MsgType(i+1) {
				return State{}, fmt.Errorf("%w: last signed %s has type %s", ErrMalformed, MsgType(i+1), m.Type)
			}
			*p = &m
		default:
			if r.err == nil {
				return State{}, fmt.Errorf("%w: presence flag", ErrMalformed)
			}
		}
	}
	switch r.u8() {
	case 0:
	case 1:
		d := &Decision{Height: s.Height - 1}
		d.Round = int32(r.u32())
		d.ValueID = r.hash()
		d.Value = r.bytesN(MaxValueSize)
		commit, err := r.messages()
		if err != nil {
			return State{}, fmt.Errorf("decision certificate: %w", err)
		}
		if len(commit) == 0 {
			return State{}, fmt.Errorf("%w: decision without precommits", ErrMalformed)
		}
		d.Commit = commit
		s.Decision = d
	default:
		if r.err == nil {
			return State{}, fmt.Errorf("%w: presence flag", ErrMalformed)
		}
	}
	if r.err != nil {
		return State{}, r.err
	}
	if len(r.b) != 0 {
		return State{}, fmt.Errorf("%w: %d after state", ErrTrailing, len(r.b))
	}
	if err := s.check(); err != nil {
		return State{}, err
	}
	return s, nil
}

func (s State) check() error {
	bad := func(what string) error { return fmt.Errorf("%w: state %s", ErrMalformed, what) }
	if s.Round < 0 || s.Round > MaxRound {
		return bad("round out of range")
	}
	if s.Step > StepPrecommit {
		return bad("step")
	}
	if s.Step == StepNewHeight && s.Round != 0 {
		return bad("new height with a round")
	}
	for _, m := range s.ValidPolka {
		if m.Type != Prevote || m.Height != s.Height || m.Round != s.ValidRound || m.ValueID != s.ValidID || s.ValidRound < 0 {
			return bad("valid polka entry")
		}
	}
	if d := s.Decision; d != nil {
		if s.Height == 0 || d.Height != s.Height-1 || d.ValueID.IsZero() || d.Round < 0 || d.Round > MaxRound {
			return bad("decision inconsistent")
		}
		for _, m := range d.Commit {
			if m.Type != Precommit || m.Height != d.Height || m.Round != d.Round || m.ValueID != d.ValueID {
				return bad("decision certificate entry")
			}
		}
	}
	for _, x := range []struct {
		round int32
		id    ident.Hash
		value []byte
	}{{s.LockedRound, s.LockedID, s.LockedValue}, {s.ValidRound, s.ValidID, s.ValidValue}} {
		if x.round < -1 || x.round > s.Round {
			return bad("locked/valid round out of range")
		}
		if (x.round == -1) != x.id.IsZero() || x.round == -1 && len(x.value) != 0 {
			return bad("locked/valid value inconsistent with its round")
		}
	}
	return nil
}
