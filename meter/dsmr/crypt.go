package dsmr

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// Encrypted telegrams (Luxembourg Smarty, Austrian and some Belgian meters)
// arrive as a DLMS general-global-cipher frame:
//
//	0xDB, 8, system title (8 bytes), 0x82, length (2 bytes, big-endian),
//	security control (0x30: authenticated and encrypted, suite 0),
//	invocation counter (4 bytes), ciphertext, GCM tag (12 bytes)
//
// where length counts everything after it. The cipher is AES-128-GCM with
// IV = system title ‖ invocation counter and additional data = security
// control ‖ authentication key. Smarty meters use the authentication key
// 00112233445566778899AABBCCDDEEFF; the encryption key comes from the grid
// operator.

// SmartyAuthKey is the authentication key of Luxembourg Smarty meters.
var SmartyAuthKey = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}

// ErrDecrypt is returned for a frame that does not authenticate (wrong key
// or corrupted bytes).
var ErrDecrypt = errors.New("dsmr: decryption failed")

const (
	gcmTag        = 0xdb
	secControl    = 0x30
	gcmTagSize    = 12
	cipherHeader  = 2 + 8 + 3 // tag, title length, title, 0x82, length
	maxCipherSize = MaxSize + 64
)

// frameLen returns the length of the frame that starts b, or 0 if the header
// is incomplete, or an error if it is not a frame header.
func frameLen(b []byte) (int, error) {
	if len(b) < cipherHeader {
		return 0, nil
	}
	if b[0] != gcmTag || b[1] != 8 || b[10] != 0x82 {
		return 0, fmt.Errorf("%w: not a general-global-cipher frame", ErrSyntax)
	}
	n := int(binary.BigEndian.Uint16(b[11:]))
	if n < 1+4+gcmTagSize || cipherHeader+n > maxCipherSize {
		return 0, fmt.Errorf("%w: cipher frame length %d", ErrSyntax, n)
	}
	return cipherHeader + n, nil
}

// Decrypt decrypts one frame with the 16-byte encryption and authentication
// keys and returns the plain telegram (pass it to Parse).
func Decrypt(frame, key, authKey []byte) ([]byte, error) {
	n, err := frameLen(frame)
	if err != nil {
		return nil, err
	}
	if n == 0 || n != len(frame) {
		return nil, fmt.Errorf("%w: cipher frame of %d bytes, header says %d", ErrSyntax, len(frame), n)
	}
	if len(key) != 16 || len(authKey) != 16 {
		return nil, errors.New("dsmr: keys must be 16 bytes")
	}
	body := frame[cipherHeader:]
	if body[0] != secControl {
		return nil, fmt.Errorf("%w: security control %#x, want 0x30", ErrSyntax, body[0])
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCMWithTagSize(block, gcmTagSize)
	if err != nil {
		return nil, err
	}
	iv := make([]byte, 0, 12)
	iv = append(iv, frame[2:10]...)
	iv = append(iv, body[1:5]...)
	aad := append([]byte{secControl}, authKey...)
	plain, err := gcm.Open(nil, iv, body[5:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// Encrypt builds a frame from a plain telegram: the inverse of Decrypt, for
// tests and simulated meters.
func Encrypt(plain, key, authKey, systemTitle []byte, counter uint32) ([]byte, error) {
	if len(systemTitle) != 8 || len(key) != 16 || len(authKey) != 16 {
		return nil, errors.New("dsmr: system title must be 8 bytes, keys 16")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCMWithTagSize(block, gcmTagSize)
	if err != nil {
		return nil, err
	}
	ctr := binary.BigEndian.AppendUint32(nil, counter)
	iv := append(append([]byte{}, systemTitle...), ctr...)
	sealed := gcm.Seal(nil, iv, plain, append([]byte{secControl}, authKey...))
	n := 1 + 4 + len(sealed)
	if cipherHeader+n > maxCipherSize {
		return nil, fmt.Errorf("dsmr: telegram too long to encrypt")
	}
	f := []byte{gcmTag, 8}
	f = append(f, systemTitle...)
	f = append(f, 0x82, byte(n>>8), byte(n))
	f = append(f, secControl)
	f = append(f, ctr...)
	return append(f, sealed...), nil
}

// ScanEncrypted is a bufio.SplitFunc for a stream of encrypted frames: it
// skips bytes until a plausible frame header and yields whole frames.
func ScanEncrypted(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i := 0; i < len(data); i++ {
		if data[i] != gcmTag {
			continue
		}
		n, err := frameLen(data[i:])
		if err != nil {
			continue // not a header: keep looking
		}
		if n == 0 || i+n > len(data) {
			if atEOF {
				return len(data), nil, nil
			}
			return i, nil, nil // need more
		}
		return i + n, data[i : i+n], nil
	}
	return len(data), nil, nil
}
