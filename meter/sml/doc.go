// Package sml decodes SML 1.04 (Smart Message Language) as German and
// Austrian electricity meters push it from their optical interface, and maps
// the values to a meter.Reading.
//
// Layers:
//   - transport v1: a frame starts with 1B1B1B1B 01010101, carries the
//     messages in 4-byte units (an escaped 1B1B1B1B is doubled), and ends
//     with 1B1B1B1B 1A nn c1 c2: nn fill bytes (0–3, zeros before the end
//     sequence), c1 c2 the CRC-16/X-25 of every byte before them, low byte
//     first. Decode checks it;
//   - messages: TL-encoded lists (type in bits 6–4 of the first byte, length
//     in the low nibbles, bit 7 = another TL byte follows; scalars count their
//     TL bytes in the length, lists count elements; 0x01 is an absent
//     optional value) of transaction id, group, abort flag, body (tag +
//     content), a CRC-16/X-25 over the message up to it (low byte first,
//     checked) and an
//     end-of-message 0x00;
//   - bodies: only GetListResponse (0x0701) carries values; open and close
//     responses are decoded and otherwise ignored.
//
// Values: OBIS 1-0:1.8.0 (import, or the sum of 1.8.1..1.8.9), 2.8.0
// (export), 16.7.0 (power, negative = export), and per phase 36/56/76.7.0
// (power), 32/52/72.7.0 (voltage), 31/51/71.7.0 (current). A value is
// value × 10^scaler in its unit (Wh = 30, W = 27, A = 33, V = 35) and is
// converted to Wh, W, mA or mV truncating toward zero.
//
// Run reads a byte stream (ScanFrames splits it) and pushes readings to a
// meter.Pusher, which serves them as a meter.Reader.
//
// Imports: meter and unit only.
package sml
