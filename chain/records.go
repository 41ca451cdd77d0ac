package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// The other records the store keeps (the genesis, the head record and the state
// values: admissions, balances, orders, attestations, clearing results,
// settlements, tariff, replay records, votes and evidence) are encoding/json of
// the named Go types, and the state hash covers those bytes. Their format is
// therefore the field names and declaration order of those types, including the
// market types inside them; changing one changes the state hash.

// recordJSON encodes a store record with encoding/json. It is never used for
// Tx, Header or Block, which have their own canonical codec (codec.go).
func recordJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs, maps, strings, integers and byte slices are encoded.
		panic(fmt.Sprintf("chain: encode %T: %v", v, err))
	}
	return b
}

// strictDecode decodes one JSON value into v with encoding/json: unknown fields
// are errors, and nothing may follow the value. (Tx and Block have their own
// parser; this is for the other records the store keeps.)
func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrEncoding, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrEncoding)
	}
	return nil
}
