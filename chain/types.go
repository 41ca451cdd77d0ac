package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

// TxKind says which payload a transaction carries.
type TxKind uint8

// Transaction kinds. The numeric values are part of the encoding.
const (
	TxAdmit  TxKind = 1 // an authority admits a participant
	TxTariff TxKind = 2 // an authority sets the tariff policy
	TxOrder  TxKind = 3 // a participant places an order for a slot
	TxCancel TxKind = 4 // a participant cancels its own order before gate closure
	TxAttest TxKind = 5 // a participant attests its metered energy for a slot
	// TxEvidence reports two conflicting messages signed by one authority.
	TxEvidence TxKind = 6
	// TxAuthority is an authority's vote to add or remove an authority; a change
	// voted by more than 2/3 of the current set takes effect two heights later.
	TxAuthority TxKind = 7
	// TxUpgrade is an authority's vote that a rule change activates at a
	// height (upgrade.go).
	TxUpgrade TxKind = 8
	// TxRelease is an authority's vote announcing a release or replacing
	// the release keys (release.go).
	TxRelease TxKind = 9
)

func (k TxKind) String() string {
	switch k {
	case TxAdmit:
		return "admit"
	case TxTariff:
		return "tariff"
	case TxOrder:
		return "order"
	case TxCancel:
		return "cancel"
	case TxAttest:
		return "attest"
	case TxEvidence:
		return "evidence"
	case TxAuthority:
		return "authority"
	case TxUpgrade:
		return "upgrade"
	case TxRelease:
		return "release"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Tx is a signed transaction. Exactly one payload pointer is set, matching Kind.
// Sig is the ed25519 signature by From over SignBytes (the canonical encoding with
// Sig empty, prefixed by a domain tag); ChainID is part of the signed bytes, so a
// transaction never replays on another network.
type Tx struct {
	ChainID string        `json:"chain_id"`
	Kind    TxKind        `json:"kind"`
	From    ident.Account `json:"from"`
	Nonce   uint64        `json:"nonce"` // free: distinguishes otherwise identical transactions
	Admit   *Admit        `json:"admit,omitempty"`
	Tariff  *Tariff       `json:"tariff,omitempty"`
	Order   *Order        `json:"order,omitempty"`
	Cancel  *Cancel       `json:"cancel,omitempty"`
	Attest  *Attest       `json:"attest,omitempty"`
	// Evidence and Authority come after the older payloads so that the
	// encoding of the older kinds is unchanged.
	Evidence  *Evidence        `json:"evidence,omitempty"`
	Authority *AuthorityChange `json:"authority,omitempty"`
	Upgrade   *UpgradeVote     `json:"upgrade,omitempty"`
	Release   *ReleaseVote     `json:"release,omitempty"`
	Sig       []byte           `json:"sig,omitempty"`
}

// Evidence is a pair of conflicting consensus messages signed by one authority
// (two different votes or proposals for the same height, round and type), each
// in the consensus package's binary encoding. The chain checks it through the
// verifier the node installs (Chain.SetEvidenceVerifier).
type Evidence struct {
	A []byte `json:"a"`
	B []byte `json:"b"`
}

// AuthorityChange is one authority's vote to add Key to the authority set (Add)
// or to remove it.
type AuthorityChange struct {
	Add bool          `json:"add"`
	Key ident.Account `json:"key"`
}

// Admit admits a participant; From must be an authority.
type Admit struct {
	Participant ident.Account `json:"participant"`
	Name        string        `json:"name"`
}

// Tariff sets the tariff policy; From must be an authority and Seq must exceed the
// current policy's Seq (genesis has Seq 0).
type Tariff struct {
	Floor   unit.Price `json:"floor"`
	Ceiling unit.Price `json:"ceiling"`
	Fee     unit.Price `json:"fee"`
	Seq     uint64     `json:"seq"`
	// LateSeconds is the late window (doc.go, Late attestations): a slot
	// whose trades miss an attestation at SettleAt waits up to this long
	// for it. 0 (every policy before the field; omitted from the tx and
	// state encodings, so their bytes and hashes are unchanged) settles
	// every slot at SettleAt, as before.
	LateSeconds int64 `json:"late_seconds,omitempty"`
}

// lateMs is the late window in ms.
func (t Tariff) lateMs() int64 { return t.LateSeconds * 1000 }

// Market returns the tariff as the market package's type.
func (t Tariff) Market() market.Tariff {
	return market.Tariff{Floor: t.Floor, Ceiling: t.Ceiling, Fee: t.Fee}
}

// Order places a limit order for one slot; its id on chain is the tx hash in hex.
//
// Replaces and Expires are the order's lifecycle (chain/doc.go, State
// machine, and order_rules.go); both are optional and omitted from the
// encoding when unset, so an order without them encodes, hashes and signs
// exactly as before they existed.
type Order struct {
	Side   market.Side `json:"side"`
	Slot   unit.Slot   `json:"slot"`
	Energy unit.Wh     `json:"energy"`
	Price  unit.Price  `json:"price"`
	// Replaces, if set, is the tx hash of the sender's open order for the same
	// slot that this order replaces, atomically, before gate closure.
	Replaces *ident.Hash `json:"replaces,omitempty"`
	// Expires, if not 0, is the last block height that may include the order.
	Expires uint64 `json:"expires,omitempty"`
	// Curve, if not empty, makes the order a price-quantity curve: 2 to
	// MaxCurveSteps steps, prices strictly falling for a buy and strictly
	// rising for a sell, Energy the steps' total and Price the first step's
	// price (order_rules.go, Curve orders). Omitted from the encoding when
	// empty, so a single-price order encodes as before curves existed.
	Curve []CurveStep `json:"curve,omitempty"`
}

// CurveStep is one step of a curve order: up to Energy Wh at Price (a buy's
// highest price, fee included; a sell's lowest, before the fee).
type CurveStep struct {
	Energy unit.Wh    `json:"energy"`
	Price  unit.Price `json:"price"`
}

// Cancel withdraws the sender's own order (by its tx hash) before gate closure.
type Cancel struct {
	Order ident.Hash `json:"order"`
}

// Attest reports a participant's metered import and export for one slot, with the
// head of its meter journal at the time.
type Attest struct {
	Slot    unit.Slot  `json:"slot"`
	Import  unit.Wh    `json:"import"`
	Export  unit.Wh    `json:"export"`
	Journal ident.Hash `json:"journal"`
}

// Format versions of the canonical encoding (chain/doc.go, Format versions).
// Format 0 is every encoding so far; it is never written. A later format
// opens its object with {"format":N, so a binary that reads only older ones
// refuses it with ErrFormat instead of calling it malformed.
const (
	TxFormat    = 0 // of a transaction
	BlockFormat = 0 // of a block header
)

// Limits on transaction contents (structural, checked by Verify).
const (
	MaxTxBytes    = 4 << 10 // encoded transaction
	MaxBlockBytes = 4 << 20 // encoded block
	// MaxBlockTxs bounds the state entries one block writes, so that a block's
	// changes always fit in one badger transaction (15% of a 16 MiB memtable).
	MaxBlockTxs = 2000
	MaxChainID  = 64
	// MaxEvidenceMsg bounds each message of an evidence pair (a vote is about
	// 200 bytes; a proposal carries only its value's id here, never the value).
	MaxEvidenceMsg = 1 << 10
	MaxName        = 64
	MaxEnergy      = market.MaxEnergy // per order or attestation
	MaxLateSeconds = 31 * 24 * 3600   // the longest late window: a month
	MaxPrice       = market.MaxPrice
)

// Sentinel errors.
var (
	ErrEncoding = errors.New("chain: malformed encoding")
	ErrTooLarge = errors.New("chain: encoding too large")
	// ErrFormat is an encoding of a format newer than this binary reads
	// (TxFormat, BlockFormat); it comes wrapped with ErrEncoding.
	ErrFormat = errors.New("chain: encoding of a newer format")
	// ErrAccount is ident.ErrAccount: Account.Check and PublicKey return it.
	ErrAccount         = ident.ErrAccount
	ErrSignature       = errors.New("chain: bad signature")
	ErrTxShape         = errors.New("chain: malformed transaction")
	ErrChainID         = errors.New("chain: wrong chain id")
	ErrDuplicate       = errors.New("chain: duplicate transaction")
	ErrNotAdmitted     = errors.New("chain: sender is not an admitted participant")
	ErrNotAuthority    = errors.New("chain: sender is not an authority")
	ErrAdmitted        = errors.New("chain: participant already admitted")
	ErrTariffSeq       = errors.New("chain: tariff sequence not increasing")
	ErrTariff          = errors.New("chain: invalid tariff")
	ErrOrderBounds     = errors.New("chain: order outside tariff bounds")
	ErrSlotClosed      = errors.New("chain: slot not open for orders")
	ErrNoOrder         = errors.New("chain: no such open order")
	ErrNotOwner        = errors.New("chain: order belongs to another participant")
	ErrReplaced        = errors.New("chain: order already replaced or cancelled")
	ErrReplaceSlot     = errors.New("chain: a replacement must be for the replaced order's slot")
	ErrExpired         = errors.New("chain: order expired")
	ErrAttestWindow    = errors.New("chain: outside the attestation window")
	ErrAttested        = errors.New("chain: slot already attested by this participant")
	ErrNothingToSettle = errors.New("chain: slot has nothing to settle")
	ErrBlock           = errors.New("chain: invalid block")
	ErrNotFound        = errors.New("chain: not found")
	ErrPruned          = errors.New("chain: block pruned")
	ErrGenesis         = errors.New("chain: invalid genesis")
	ErrCorrupt         = errors.New("chain: corrupt store")
	ErrClosed          = errors.New("chain: closed")
	ErrBlockFull       = errors.New("chain: block full")
)

// payloads returns how many payloads are set and whether the one set matches Kind.
func (tx Tx) shapeOK() bool {
	n := 0
	for _, set := range []bool{tx.Admit != nil, tx.Tariff != nil, tx.Order != nil, tx.Cancel != nil, tx.Attest != nil, tx.Evidence != nil, tx.Authority != nil, tx.Upgrade != nil, tx.Release != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return false
	}
	switch tx.Kind {
	case TxAdmit:
		return tx.Admit != nil
	case TxTariff:
		return tx.Tariff != nil
	case TxOrder:
		return tx.Order != nil
	case TxCancel:
		return tx.Cancel != nil
	case TxAttest:
		return tx.Attest != nil
	case TxEvidence:
		return tx.Evidence != nil
	case TxAuthority:
		return tx.Authority != nil
	case TxUpgrade:
		return tx.Upgrade != nil
	case TxRelease:
		return tx.Release != nil
	}
	return false
}

// Sign sets Sig to the signature of priv over SignBytes. It does not set From.
func (tx *Tx) Sign(priv ed25519.PrivateKey) {
	tx.Sig = signEd25519(priv, tx.SignBytes())
}

// SignBytes is what From signs: a domain tag and the canonical encoding without Sig.
func (tx Tx) SignBytes() []byte {
	tx.Sig = nil
	return append([]byte("gridmesh/tx/v1\n"), tx.Encode()...)
}

// Hash is SHA-256 of the canonical encoding, signature included. (ed25519
// verification in Go rejects non-canonical signatures, so a tx has one hash.)
func (tx Tx) Hash() ident.Hash { return sha256.Sum256(tx.Encode()) }

// Verify checks the structure of tx (one payload matching Kind, well-formed
// accounts, value bounds, size) and From's signature. It does not look at chain
// state; see Chain.CheckTx.
func (tx Tx) Verify() error {
	if err := tx.verifyShape(); err != nil {
		return err
	}
	if !verifySig(tx.From, tx.SignBytes(), tx.Sig) {
		return ErrSignature
	}
	return nil
}

func (tx Tx) verifyShape() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrTxShape, fmt.Sprintf(format, a...))
	}
	if tx.ChainID == "" || len(tx.ChainID) > MaxChainID {
		return bad("chain id must be 1..%d bytes", MaxChainID)
	}
	if !tx.shapeOK() {
		return bad("kind %s needs exactly its one payload", tx.Kind)
	}
	if err := tx.From.Check(); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	switch tx.Kind {
	case TxAdmit:
		if err := tx.Admit.Participant.Check(); err != nil {
			return fmt.Errorf("participant: %w", err)
		}
		if len(tx.Admit.Name) > MaxName {
			return bad("name longer than %d bytes", MaxName)
		}
	case TxTariff:
		t := tx.Tariff
		if t.Floor < 0 || t.Fee < 0 || t.Ceiling > MaxPrice || t.Floor > MaxPrice || t.Fee > MaxPrice {
			return bad("tariff prices must be in [0, %d]", MaxPrice)
		}
		if t.LateSeconds < 0 || t.LateSeconds > MaxLateSeconds {
			return bad("tariff late window must be in [0, %d] s", MaxLateSeconds)
		}
	case TxOrder:
		if err := tx.Order.checkShape(); err != nil {
			return err
		}
	case TxCancel:
		if tx.Cancel.Order.IsZero() {
			return bad("cancel of the zero hash")
		}
	case TxAttest:
		a := tx.Attest
		if a.Import < 0 || a.Export < 0 || a.Import > MaxEnergy || a.Export > MaxEnergy {
			return bad("attested energy must be in [0, %d]", MaxEnergy)
		}
	case TxEvidence:
		e := tx.Evidence
		if len(e.A) == 0 || len(e.B) == 0 || len(e.A) > MaxEvidenceMsg || len(e.B) > MaxEvidenceMsg {
			return bad("evidence messages must be 1..%d bytes each", MaxEvidenceMsg)
		}
	case TxAuthority:
		if err := tx.Authority.Key.Check(); err != nil {
			return fmt.Errorf("authority key: %w", err)
		}
	case TxUpgrade:
		if !checkUpgradeName(tx.Upgrade.Name) {
			return bad("upgrade name must be 1..%d of a-z, 0-9 and '-'", MaxUpgradeName)
		}
	case TxRelease:
		if err := tx.Release.checkShape(); err != nil {
			return err
		}
	}
	if n := len(tx.Encode()); n > MaxTxBytes {
		return fmt.Errorf("%w: tx is %d bytes, limit %d", ErrTooLarge, n, MaxTxBytes)
	}
	return nil
}

// checkShape checks an order's structure (Verify's part of the order rules):
// side, energy in [1, MaxEnergy], price in [0, MaxPrice], a non-zero Replaces
// and the curve rules (order_rules.go). Errors wrap ErrTxShape.
func (o *Order) checkShape() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrTxShape, fmt.Sprintf(format, a...))
	}
	if o.Side != market.Buy && o.Side != market.Sell {
		return bad("order side %d", o.Side)
	}
	if o.Energy <= 0 || o.Energy > MaxEnergy {
		return bad("order energy must be in (0, %d]", MaxEnergy)
	}
	if o.Price < 0 || o.Price > MaxPrice {
		return bad("order price must be in [0, %d]", MaxPrice)
	}
	if o.Replaces != nil && o.Replaces.IsZero() {
		return bad("order replaces the zero hash")
	}
	if err := o.checkCurve(); err != nil {
		return fmt.Errorf("%w: %w", ErrTxShape, err)
	}
	return nil
}

// Header is a block header. StateHash is the state after executing this block.
type Header struct {
	ChainID   string        `json:"chain_id"`
	Height    uint64        `json:"height"`
	Time      int64         `json:"time"` // unix ms, proposer's clock
	Parent    ident.Hash    `json:"parent"`
	TxRoot    ident.Hash    `json:"tx_root"`
	StateHash ident.Hash    `json:"state_hash"`
	Proposer  ident.Account `json:"proposer"`
}

// Block is a header and its transactions. The certificate that decided it is kept
// beside it (opaque to this package).
type Block struct {
	Header Header `json:"header"`
	Txs    []Tx   `json:"txs"`
}

// Hash is SHA-256 over the domain tag and the canonical header encoding; the
// header commits to the transactions through TxRoot.
func (b Block) Hash() ident.Hash { return b.Header.Hash() }

// Hash is the block hash of the header.
func (h Header) Hash() ident.Hash {
	// A constant capacity keeps the buffer on the stack.
	b := append(make([]byte, 0, 512), "gridmesh/header/v1\n"...)
	return sha256.Sum256(appendHeaderPtr(b, &h))
}

// TxRoot is SHA-256 over a domain tag, the count and each tx hash in block order.
func TxRoot(txs []Tx) ident.Hash {
	hs := make([]ident.Hash, len(txs))
	for i, tx := range txs {
		hs[i] = tx.Hash()
	}
	return TxRootOf(hs)
}

// TxRootOf is TxRoot from the transactions' hashes.
func TxRootOf(hashes []ident.Hash) ident.Hash {
	d := sha256.New()
	d.Write([]byte("gridmesh/txroot/v1\n"))
	var n [8]byte
	putU64(n[:], uint64(len(hashes)))
	d.Write(n[:])
	for _, h := range hashes {
		d.Write(h[:])
	}
	var out ident.Hash
	d.Sum(out[:0])
	return out
}

func putU64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}
