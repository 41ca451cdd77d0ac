//go:build !linux

package main

import "errors"

func kernelClockState() (synced, known bool) { return false, false }

func diskFree(dir string) (free, total int64, err error) {
	return 0, 0, errors.New("not measured on this platform")
}
