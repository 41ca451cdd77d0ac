package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/gridmesh/gridmesh/firmware/deb"
)

func main() {
	arch := flag.String("arch", "arm64", "target: arm64 (Raspberry Pi, 64-bit OS) or amd64")
	version := flag.String("version", "0.1.0", "Debian version of the package")
	out := flag.String("out", "dist", "directory for the .deb")
	bin := flag.String("binary", "", "use this gridmesh binary (built for --arch) instead of building one")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mkdeb: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p, err := deb.Build(ctx, deb.Options{Arch: *arch, Version: *version, Out: *out, Binary: *bin})
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkdeb: %v\n", err)
		os.Exit(1)
	}
	st, err := os.Stat(p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkdeb: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%s (%d bytes)\n", p, st.Size())
}
