//go:build !unix

package main

import "io/fs"

// allocated is the disk space a file takes (its size where the platform does
// not report allocated blocks).
func allocated(info fs.FileInfo) int64 { return info.Size() }
