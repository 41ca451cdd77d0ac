package update

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"aead.dev/minisign"
)

// Keys are the release public keys a network pins (genesis.toml,
// [updates] keys): a manifest signed by any one of them is trusted.
type Keys []minisign.PublicKey

// ParseKeys parses minisign public keys as `minisign -G` writes them on the
// second line of minisign.pub ("RWQ..."), one per string.
func ParseKeys(ss []string) (Keys, error) {
	var ks Keys
	for i, s := range ss {
		var k minisign.PublicKey
		if err := k.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
			return nil, fmt.Errorf("update: release key %d (%q): %w", i, s, err)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// Errors of Verify.
var (
	ErrNoKeys       = errors.New("update: this network pins no release keys ([updates] keys in genesis.toml): no update can be trusted")
	ErrBadSignature = errors.New("update: bad signature: the manifest is not signed by any of the network's release keys")
)

// trustedPrefix starts the trusted comment Sign writes; the version follows.
const trustedPrefix = "gridmesh release "

// Verify checks that sig is a minisign signature of manifest by one of keys
// (prehashed, as minisign signs by default, or legacy) and only then parses
// the manifest. A trusted comment that names a gridmesh release (as Sign
// writes it) must name the manifest's version; other trusted comments (such
// as the timestamp minisign -S writes) are allowed.
func Verify(keys Keys, manifest, sig []byte) (Manifest, error) {
	if len(keys) == 0 {
		return Manifest{}, ErrNoKeys
	}
	if len(sig) > MaxSignatureSize {
		return Manifest{}, fmt.Errorf("%w (signature file of %d bytes)", ErrBadSignature, len(sig))
	}
	var s minisign.Signature
	if err := s.UnmarshalText(bytes.TrimSpace(sig)); err != nil {
		return Manifest{}, fmt.Errorf("%w (%v)", ErrBadSignature, err)
	}
	ok := false
	for _, k := range keys {
		if minisign.Verify(k, manifest, sig) {
			ok = true
			break
		}
	}
	if !ok {
		return Manifest{}, fmt.Errorf("%w (signed by key id %016X)", ErrBadSignature, s.KeyID)
	}
	m, err := ParseManifest(manifest)
	if err != nil {
		return Manifest{}, err
	}
	if v, named := strings.CutPrefix(s.TrustedComment, trustedPrefix); named && v != m.Version {
		return Manifest{}, fmt.Errorf("%w (the trusted comment names %s, the manifest %s)", ErrBadSignature, v, m.Version)
	}
	return m, nil
}

// Sign signs a manifest's encoding with key as `minisign -S` does (prehashed
// Ed25519, BLAKE2b-512), with the trusted comment "gridmesh release
// <version>", and returns the signature file's contents. `minisign -Vm
// manifest.json -P <key>` verifies it.
func Sign(key minisign.PrivateKey, manifest []byte) ([]byte, error) {
	m, err := ParseManifest(manifest)
	if err != nil {
		return nil, err
	}
	r := minisign.NewReader(bytes.NewReader(manifest))
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	return r.SignWithComments(key, trustedPrefix+m.Version, "signature from a gridmesh release key"), nil
}

// LoadPrivateKey reads a minisign secret key file (`minisign -G`, or
// `gridmesh release keygen`). An encrypted key is decrypted with the
// password that password returns; password is called only then.
func LoadPrivateKey(path string, password func() (string, error)) (minisign.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("update: secret key: %w", err)
	}
	if !minisign.IsEncrypted(b) {
		var k minisign.PrivateKey
		if err := k.UnmarshalText(bytes.TrimSpace(b)); err != nil {
			return minisign.PrivateKey{}, fmt.Errorf("update: secret key %s: %w", path, err)
		}
		return k, nil
	}
	pw, err := password()
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("update: secret key %s: password: %w", path, err)
	}
	k, err := minisign.DecryptKey(pw, bytes.TrimSpace(b))
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("update: secret key %s: %w (wrong password?)", path, err)
	}
	return k, nil
}

// PublicKeyText is the public key line of pub as genesis.toml pins it.
func PublicKeyText(pub minisign.PublicKey) string { return pub.String() }
