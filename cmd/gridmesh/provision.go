package main

import (
	"errors"
	"io"
)

func cmdProvision(args []string, stdout io.Writer) error {
	return errors.New("provision: not built yet")
}
