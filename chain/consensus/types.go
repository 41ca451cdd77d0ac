package consensus

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/gridmesh/gridmesh/ident"
)

// MsgType is the kind of a consensus message.
type MsgType uint8

// Message types of Algorithm 1.
const (
	Proposal  MsgType = 1
	Prevote   MsgType = 2
	Precommit MsgType = 3
)

func (t MsgType) String() string {
	switch t {
	case Proposal:
		return "proposal"
	case Prevote:
		return "prevote"
	case Precommit:
		return "precommit"
	}
	return fmt.Sprintf("msgtype(%d)", uint8(t))
}

// Message is a signed consensus message: ⟨PROPOSAL, h, r, v, vr⟩, ⟨PREVOTE, h, r, id⟩
// or ⟨PRECOMMIT, h, r, id⟩.
//
// A Proposal carries the full Value, its ValueID (non-zero; the application checks
// in Validate that it names Value) and ValidRound (-1 = none, else < Round). A vote
// carries ValueID (zero = nil), no Value, and ValidRound = -1.
type Message struct {
	Type       MsgType
	Height     uint64
	Round      int32
	ValueID    ident.Hash
	ValidRound int32
	Value      []byte
	From       ident.Account
	Sig        []byte // ed25519 over SignBytes(chainID)
}

// Signer signs consensus messages (ed25519, deterministic).
type Signer interface {
	Sign(msg []byte) []byte
}

// Ed25519Signer signs with an ed25519 private key.
type Ed25519Signer struct{ Key ed25519.PrivateKey }

// Sign returns ed25519.Sign(s.Key, msg).
func (s Ed25519Signer) Sign(msg []byte) []byte { return ed25519.Sign(s.Key, msg) }

// Timeouts are the durations of Algorithm 1's timeouts: timeoutX(round) = X + round*XDelta.
type Timeouts struct {
	Propose, ProposeDelta     time.Duration
	Prevote, PrevoteDelta     time.Duration
	Precommit, PrecommitDelta time.Duration
}

// DefaultTimeouts are tuned for a LAN of Raspberry Pis (a round costs well under 0.5 s
// when every authority is up; the timeouts only matter when one is not).
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Propose: 1500 * time.Millisecond, ProposeDelta: 500 * time.Millisecond,
		Prevote: 500 * time.Millisecond, PrevoteDelta: 250 * time.Millisecond,
		Precommit: 500 * time.Millisecond, PrecommitDelta: 250 * time.Millisecond,
	}
}

// maxTimeoutRound caps the round used in timeout arithmetic (no overflow, bounded waits).
const maxTimeoutRound = 100

func (t Timeouts) duration(k TimeoutKind, round int32) time.Duration {
	r := time.Duration(min(round, maxTimeoutRound))
	switch k {
	case TimeoutPropose:
		return t.Propose + r*t.ProposeDelta
	case TimeoutPrevote:
		return t.Prevote + r*t.PrevoteDelta
	case TimeoutPrecommit:
		return t.Precommit + r*t.PrecommitDelta
	}
	return 0
}

// Config configures an Engine.
type Config struct {
	ChainID    string
	Self       ident.Account   // "" or not in Validators = observer (never signs, still decides)
	Validators []ident.Account // any order; the engine sorts them; proposer = sorted[(height+round) % n]
	Signer     Signer          // required unless observer
	Timeouts   Timeouts
}

// Input is what Engine.Step accepts: Message, Timeout, Proposed, Validated, Work, Commit.
type Input interface{ isInput() }

// TimeoutKind names the timer that fired.
type TimeoutKind uint8

// Timeout kinds. TimeoutRebroadcast has no Height/Round: Step(Timeout{Kind:
// TimeoutRebroadcast}) is Rebroadcast().
const (
	TimeoutPropose     TimeoutKind = 1
	TimeoutPrevote     TimeoutKind = 2
	TimeoutPrecommit   TimeoutKind = 3
	TimeoutRebroadcast TimeoutKind = 4
)

func (k TimeoutKind) String() string {
	switch k {
	case TimeoutPropose:
		return "propose"
	case TimeoutPrevote:
		return "prevote"
	case TimeoutPrecommit:
		return "precommit"
	case TimeoutRebroadcast:
		return "rebroadcast"
	}
	return fmt.Sprintf("timeout(%d)", uint8(k))
}

// Timeout is a timer that fired (the caller schedules it from Ready.Timers).
type Timeout struct {
	Kind   TimeoutKind
	Height uint64
	Round  int32
}

// Timer asks the caller to Step(t.Timeout) after t.Duration.
type Timer struct {
	Timeout
	Duration time.Duration
}

// Proposed answers a BuildRequest: the value this node proposes and its id.
type Proposed struct {
	Height uint64
	Round  int32
	Value  []byte
	ID     ident.Hash
}

// Validated answers a ValidateRequest: valid(v) for the value named ID.
type Validated struct {
	Height uint64
	Round  int32
	ID     ident.Hash
	Valid  bool
}

// Work tells an engine waiting at a new height that there is something to decide.
type Work struct{}

// Commit is a peer's decided value with its certificate (catch-up). The caller has
// checked that ID names Value; the engine checks the certificate with VerifyCommit.
type Commit struct {
	Height uint64
	Value  []byte
	ID     ident.Hash
	Commit []Message
}

func (Message) isInput()   {}
func (Timeout) isInput()   {}
func (Proposed) isInput()  {}
func (Validated) isInput() {}
func (Work) isInput()      {}
func (Commit) isInput()    {}

// BuildRequest asks the application for a value to propose (getValue(), line 18).
// Answer with Step(Proposed{Height, Round, Value, ID}).
type BuildRequest struct {
	Height uint64
	Round  int32
}

// ValidateRequest asks the application for valid(v) of a received proposal. It must
// also check that ID names Value. Answer with Step(Validated{...}).
type ValidateRequest struct {
	Height uint64
	Round  int32
	ID     ident.Hash
	Value  []byte
}

// Decision is a decided value with its commit certificate: the > 2/3 precommits of
// Round for ValueID, sorted by validator.
type Decision struct {
	Height  uint64
	Round   int32
	ValueID ident.Hash
	Value   []byte
	Commit  []Message
}

// Evidence is two conflicting messages signed by the same validator for the same
// (height, round, type).
type Evidence struct {
	A, B Message
}

// Ready is the work the engine wants done, to be carried out in this order:
//
//  1. State: persist and fsync BEFORE anything below leaves the process. Nil if
//     unchanged since the last Ready.
//  2. Messages: broadcast (already signed). The engine has counted them itself.
//  3. Timers: schedule; after Duration, Step(Timeout).
//  4. Build: the app answers Step(Proposed{...}).
//  5. Validate: the app answers Step(Validated{...}) for each.
//  6. Decided: commit each value with its certificate. State (persisted first)
//     already carries the Decision, so if the process dies before the value is
//     committed, New(cfg, Decision.Height, restored) hands it out again.
//  7. Evidence: equivocation to record (on chain).
//
// Then call Advance. Every item is handed out once.
type Ready struct {
	State    *State
	Messages []Message
	Timers   []Timer
	Build    *BuildRequest
	Validate []ValidateRequest
	Decided  []Decision
	Evidence []Evidence
}

// Sentinel errors. Step returns an ErrIgnored-wrapping error for inputs that are
// well-formed but of no use (old height, duplicate, non-validator, stale timer or
// answer); callers may count them for peer scoring but must not treat them as
// failures of this node.
var (
	ErrIgnored        = errors.New("consensus: input ignored")
	ErrNotValidator   = fmt.Errorf("%w: sender is not a validator", ErrIgnored)
	ErrNotProposer    = fmt.Errorf("%w: proposal not from the round's proposer", ErrIgnored)
	ErrOldHeight      = fmt.Errorf("%w: old height", ErrIgnored)
	ErrFutureHeight   = fmt.Errorf("%w: height too far ahead", ErrIgnored)
	ErrDuplicate      = fmt.Errorf("%w: duplicate message", ErrIgnored)
	ErrStale          = fmt.Errorf("%w: stale timeout or answer", ErrIgnored)
	ErrMalformed      = errors.New("consensus: malformed message")
	ErrBadID          = errors.New("consensus: bad validator id")
	ErrBadCommit      = errors.New("consensus: bad commit certificate")
	ErrBadSignature   = errors.New("consensus: bad signature")
	ErrStateAhead     = errors.New("consensus: restored state is ahead of the requested height")
	ErrConfig         = errors.New("consensus: bad config")
	ErrTooLarge       = errors.New("consensus: encoding too large")
	ErrTrailing       = errors.New("consensus: trailing bytes")
	ErrUnknownVersion = errors.New("consensus: unknown encoding version")
)

// publicKey is id's key, or an error matching ErrBadID.
func publicKey(id ident.Account) (ed25519.PublicKey, error) {
	pub, err := id.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrBadID, string(id))
	}
	return pub, nil
}
