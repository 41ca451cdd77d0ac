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
	plain := func(frame []byte) ([]byte, error) { return frame, nil }
	return run(ctx, r, 2*MaxSize, ScanTelegrams, plain, p)
}

// RunEncrypted is Run for meters that encrypt their telegrams (Luxembourg
// Smarty: authKey SmartyAuthKey and the key from the grid operator).
// Frames that do not decrypt are pushed as errors wrapping ErrDecrypt.
func RunEncrypted(ctx context.Context, r io.Reader, key, authKey []byte, p *meter.Pusher) error {
	decrypt := func(frame []byte) ([]byte, error) { return Decrypt(frame, key, authKey) }
	return run(ctx, r, 2*maxCipherSize, ScanEncrypted, decrypt, p)
}

// run is Run and RunEncrypted: it splits r into frames with split (of at
// most max bytes), opens each into a telegram and pushes its reading, or
// the error of opening or parsing it, to p.
func run(ctx context.Context, r io.Reader, max int, split bufio.SplitFunc, open func(frame []byte) ([]byte, error), p *meter.Pusher) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), max)
	sc.Split(split)
	for sc.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		p.Push(readingOf(open(sc.Bytes())))
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}

// readingOf parses the telegram b, unless opening it failed (err).
func readingOf(b []byte, err error) (meter.Reading, error) {
	if err != nil {
		return meter.Reading{}, err
	}
	t, err := Parse(b)
	if err != nil {
		return meter.Reading{}, err
	}
	return t.Reading()
}
