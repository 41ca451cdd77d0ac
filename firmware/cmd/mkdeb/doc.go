// Command mkdeb builds gridmesh's .deb package for one architecture:
//
//	go run ./firmware/cmd/mkdeb --arch arm64 --version 0.1.0 --out dist/
//
// It cross-builds the binary (CGO_ENABLED=0, -trimpath, -ldflags "-s -w")
// from the module in the working directory and packs it with nfpm
// (firmware/deb). 32-bit targets are refused with the reason.
//
// Imports: firmware/deb only of gridmesh.
package main
