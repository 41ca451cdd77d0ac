package main

import (
	"context"
	"errors"
	"io"
)

func cmdDoctor(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("doctor: not built yet")
}
