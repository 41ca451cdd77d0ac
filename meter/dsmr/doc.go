// Package dsmr parses DSMR P1 telegrams, the push messages of Dutch, Belgian
// (e-MUCS), Luxembourg (Smarty) and other European smart meters on their P1
// port, from DSMR 2.2 to 5.0, and maps them to a meter.Reading.
//
// A telegram is a header line "/XXXZ Ident", an empty line, data lines
// "A-B:C.D.E(value*unit)(...)" (an optional "*F" suffix on the OBIS code is
// accepted and dropped, values may continue on the following line) and a
// trailer "!" followed, from DSMR 4 on, by a CRC16 (polynomial 0x8005,
// reflected, initial value 0: CRC-16/ARC) over every byte from "/" to "!"
// in four hex digits. Parse checks the CRC when present and requires it when
// the telegram declares DSMR 4 or later (1-3:0.2.8 >= 40).
//
// Timestamps (YYMMDDhhmmssX) are Central European: X = W is UTC+1, S is UTC+2.
// Decimal values are converted to integers (Wh, W, mV, mA) by truncation
// toward zero of digits beyond the target unit (EasyMeter's 7 decimals of kWh).
//
// Encrypted telegrams (Luxembourg Smarty and other DLMS general-global-cipher
// meters, AES-128-GCM) are framed by ScanEncrypted and opened by Decrypt;
// RunEncrypted does both.
//
// Run reads a P1 byte stream (ScanTelegrams splits it) and pushes readings
// to a meter.Pusher, which serves them as a meter.Reader. Opening and
// configuring the serial port is the caller's (no serial dependency yet).
//
// Imports: meter and unit only.
package dsmr
