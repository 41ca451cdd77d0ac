// Package enrol turns a node's ed25519 public key into its enrolment code and
// back: the form an installer reads off a device and an operator types into
// `gridmesh admit CODE`.
//
// A code is 56 characters of Crockford base32 (0-9 and A-Z without I, L, O,
// U) in 14 groups of 4, e.g. "7ZQ4-...-K3M2". It carries the 32-byte key, a
// 16-bit checksum (the first two bytes of SHA-256 over a domain string and
// the key) and a final Luhn mod 32 check character. The check character
// catches every single mistyped character and every swap of two neighbours
// but one pair in 32; the checksum catches what it misses but for one in
// 65,536. A mistyped code is refused, never read as another key.
//
// Reading is forgiving where it cannot be wrong: case, spaces and dashes do
// not matter, and O reads as 0, I and L as 1 (Crockford's rule).
//
// Imports: the standard library only.
package enrol
