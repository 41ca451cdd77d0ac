package sml

import (
	"bufio"
	"bytes"
	"context"
	"io"

	"github.com/gridmesh/gridmesh/meter"
)

// ScanFrames is a bufio.SplitFunc that yields whole transport frames (start
// sequence to CRC) from a byte stream. Bytes before a start sequence are
// skipped, and so is a frame longer than MaxFrame.
func ScanFrames(data []byte, atEOF bool) (advance int, token []byte, err error) {
	s := bytes.Index(data, start)
	if s < 0 {
		// Keep a possible partial start sequence at the end.
		keep := min(len(data), len(start)-1)
		if atEOF {
			return len(data), nil, nil
		}
		return len(data) - keep, nil, nil
	}
	for i := s + 8; i+8 <= len(data); i += 4 {
		if !bytes.Equal(data[i:i+4], escape) {
			continue
		}
		switch next := data[i+4 : i+8]; {
		case bytes.Equal(next, escape):
			i += 4
		case next[0] == 0x1a:
			return i + 8, data[s : i+8], nil
		default:
			return i + 4, data[s : i+8], nil // let Decode report the bad escape
		}
		if i-s > MaxFrame {
			return s + 1, nil, nil
		}
	}
	if len(data)-s > MaxFrame {
		return s + 1, nil, nil
	}
	if atEOF {
		return len(data), nil, nil
	}
	return s, nil, nil
}

// Run reads frames from r (the serial port of an optical read head, or a
// TCP stream from one) and pushes each decoded reading, or the decoding
// error, to p. It returns nil when ctx is done, or the read error that ended
// the stream. A blocked read cannot see ctx: the caller closes r to stop Run.
func Run(ctx context.Context, r io.Reader, p *meter.Pusher) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 2*MaxFrame)
	sc.Split(ScanFrames)
	for sc.Scan() {
		if ctx.Err() != nil {
			return nil
		}
		f, err := Decode(sc.Bytes())
		if err != nil {
			p.Push(meter.Reading{}, err)
			continue
		}
		p.Push(f.Reading())
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.ErrUnexpectedEOF
}
