//go:build linux

package nattest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gridmesh/gridmesh/internal/cluster"
)

// A delay line is an access link made of two TUN devices, one in each
// namespace, with the test process carrying the packets between them: each
// direction holds every packet for the link's delay and drops 1 % of them
// at random (seeded, so a run's loss pattern repeats). It stands in for
// `tc qdisc ... netem delay D loss 1%`, which this kind of machine's kernel
// may lack (CONFIG_NET_SCH_NETEM is not set in the 2-core VM the figures
// were measured on); a rate limit stays a real tc qdisc (tbf) on the TUN
// devices. Packets keep their order; a direction with more than 4,096
// packets in flight drops the next, as a full queue does.

// openTUN creates TUN device name (IP packets, no header) in namespace ns
// and returns it, non-blocking, for the runtime's poller.
func openTUN(ns, name string) (*os.File, error) {
	var fd int
	var terr error
	err := cluster.InNetns(ns, func() {
		fd, terr = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if terr != nil {
			return
		}
		var ifr *unix.Ifreq
		if ifr, terr = unix.NewIfreq(name); terr == nil {
			ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
			terr = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if terr != nil {
			unix.Close(fd)
		}
	})
	if err == nil {
		err = terr
	}
	if err != nil {
		return nil, fmt.Errorf("tun %s in %s: %w", name, ns, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// delayLine connects device aDev in namespace aNS with bDev in bNS, delay
// each way and 1 % loss each way; seed draws the losses. It is torn down
// at the test's end.
func delayLine(t *testing.T, aNS, aDev, bNS, bDev string, delay time.Duration, seed uint64) {
	t.Helper()
	a, err := openTUN(aNS, aDev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openTUN(bNS, bDev)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { carry(a, b, delay, seed) })
	wg.Go(func() { carry(b, a, delay, seed+1) })
	t.Cleanup(func() {
		a.Close() // ends both readers; each writer drains its queue and stops
		b.Close()
		wg.Wait()
	})
}

// lossPercent is each direction's random packet loss.
const lossPercent = 1

// carry moves packets from one TUN device to the other, each delay after it
// was read, dropping lossPercent of them, until from is closed.
func carry(from, to *os.File, delay time.Duration, seed uint64) {
	type packet struct {
		due time.Time
		b   []byte
	}
	queue := make(chan packet, 4096)
	var wg sync.WaitGroup
	wg.Go(func() {
		for p := range queue {
			time.Sleep(time.Until(p.due))
			to.Write(p.b) // an error here is a device going away at the end
		}
	})
	rng := rand.New(rand.NewPCG(seed, 0x6d6963726f))
	buf := make([]byte, 65536)
	for {
		n, err := from.Read(buf)
		if err != nil {
			break
		}
		if rng.IntN(100) < lossPercent {
			continue
		}
		select {
		case queue <- packet{time.Now().Add(delay), append([]byte(nil), buf[:n]...)}:
		default: // a full queue drops
		}
	}
	close(queue)
	wg.Wait()
}
