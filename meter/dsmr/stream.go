package dsmr

import (
	"bufio"
	"context"
	"io"

	"github.com/gridmesh/gridmesh/meter"
)

// Run reads telegrams from r (the P1 serial port: 115200 8N1 for DSMR 4/5,
// 9600 7E1 for 2.2/3; or a TCP stream from a P1 gateway) and pushes each
// parsed reading, or the parse error, to p. It returns nil when ctx is done,
// or the read error that ended the stream. A blocked read cannot see ctx:
// the caller closes r to stop Run.
func Run(ctx context.Context, r io.Reader, p *meter.Pusher) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 2*MaxSize)
	sc.Split(ScanTelegrams)
	for sc.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		t, err := Parse(sc.Bytes())
		if err != nil {
			p.Push(meter.Reading{}, err)
			continue
		}
		p.Push(t.Reading())
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// RunEncrypted is Run for meters that encrypt their telegrams (Luxembourg
// Smarty: authKey SmartyAuthKey and the key from the grid operator).
// Frames that do not decrypt are pushed as errors wrapping ErrDecrypt.
func RunEncrypted(ctx context.Context, r io.Reader, key, authKey []byte, p *meter.Pusher) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 2*maxCipherSize)
	sc.Split(ScanEncrypted)
	for sc.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		plain, err := Decrypt(sc.Bytes(), key, authKey)
		if err != nil {
			p.Push(meter.Reading{}, err)
			continue
		}
		t, err := Parse(plain)
		if err != nil {
			p.Push(meter.Reading{}, err)
			continue
		}
		p.Push(t.Reading())
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
