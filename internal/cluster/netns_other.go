//go:build !linux

package cluster

import (
	"context"
	"errors"
	"net"
	"syscall"
)

var errNoNetns = errors.New("cluster: network namespaces need Linux")

// InNetns needs Linux.
func InNetns(string, func()) error { return errNoNetns }

func dialIn(context.Context, string, string, string) (net.Conn, error) { return nil, errNoNetns }

func dieWithParent() *syscall.SysProcAttr { return nil }
