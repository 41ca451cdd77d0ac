package chain

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/market"
)

// TestFutureFormat: a transaction or a block header of a later format (one
// that opens with {"format":N,) is refused with ErrFormat (and ErrEncoding),
// saying which format it is and that the binary needs an update; today's
// encodings carry no format field at all.
func TestFutureFormat(t *testing.T) {
	k := newKey("alice")
	tx := orderTx(k, market.Buy, 3, 100, 150_000, 1)
	enc := tx.Encode()
	if bytes.Contains(enc, []byte(`"format"`)) {
		t.Fatalf("a format-0 tx encodes a format field: %s", enc)
	}
	future := append([]byte(`{"format":1,`), enc[1:]...)
	_, err := DecodeTx(future)
	if !errors.Is(err, ErrFormat) || !errors.Is(err, ErrEncoding) {
		t.Fatalf("DecodeTx(format 1) = %v; want ErrFormat wrapped with ErrEncoding", err)
	}
	if !strings.Contains(err.Error(), "transaction format 1, this binary reads format 0 (update gridmesh)") {
		t.Errorf("DecodeTx(format 1) says %q; want it to name the formats and the update", err)
	}
	blk := Block{Header: Header{ChainID: "test", Height: 2, Proposer: k.acct}, Txs: []Tx{tx}}
	benc := blk.Encode()
	bfuture := bytes.Replace(benc, []byte(`{"header":{`), []byte(`{"header":{"format":7,`), 1)
	_, err = DecodeBlock(bfuture)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "block header format 7") {
		t.Errorf("DecodeBlock(header format 7) = %v; want ErrFormat naming block header format 7", err)
	}
	// A tx of a later format inside a block fails the block the same way.
	tfuture := bytes.Replace(benc, enc, future, 1)
	if _, err = DecodeBlock(tfuture); !errors.Is(err, ErrFormat) {
		t.Errorf("DecodeBlock(with a format-1 tx) = %v; want ErrFormat", err)
	}
	// Malformed stays malformed, without ErrFormat.
	if _, err := DecodeTx(append([]byte(`{"format":x,`), enc[1:]...)); errors.Is(err, ErrFormat) || !errors.Is(err, ErrEncoding) {
		t.Errorf("DecodeTx(format x) = %v; want ErrEncoding without ErrFormat", err)
	}
}
