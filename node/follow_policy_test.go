package node

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/gridmesh/gridmesh/wire"
)

// TestFollowPolicy runs the traces in testdata/follow/*.txt against the
// follow policy, as the loop's sync rounds drive it. Commands (t= is seconds
// since the start):
//
//	init [authority]             a new policy at t=0
//	probe t=S peers=A,B*,...     a round starts with these peers (* = an authority)
//	climb t=S peers=A,B*,... [followers=F,...]
//	                             after a round's answer, the peer asked for a
//	                             slot (climb, or seek on the last resort), the
//	                             followers being the peers this home serves
//	climbed t=S peer=P [useful] [ok] [brought] depth=D
//	                             P's answer to that ask (brought: blocks this
//	                             home lacked); prints moved or stay, and the
//	                             peer whose pushes are also taken (alsoFrom)
//	push t=S from=P height=H pushed=K
//	                             P pushed block K to this home at height H
//	                             (followPolicy.pushed); prints apply, sync or
//	                             ignore
//	answer t=S peer=P [auth] [useful] [ok] depth=D
//	                             P's answer; prints stop or next
//	resort? t=S [behind] [nohomes]
//	                             whether to ask an authority as the last resort
//	resort t=S peer=P depth=D    authority P served us as the last resort
//	open?                        whether new followers get a slot
//	order peers=A,B,...          the home peers after the authorities, as
//	                             rotated; prints them sorted (order)
//
// Every command prints the decision and the policy's upstream, flags and
// depth (as its sync answers tell it: followPolicy.toldDepth).
func TestFollowPolicy(t *testing.T) {
	datadriven.Walk(t, "testdata/follow", func(t *testing.T, path string) {
		var f followPolicy
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			now := t0
			if d.HasArg("t") {
				var s string
				d.ScanArgs(t, "t", &s)
				sec, err := strconv.ParseFloat(s, 64)
				if err != nil {
					d.Fatalf(t, "t=%s: %v", s, err)
				}
				now = t0.Add(time.Duration(sec * float64(time.Second)))
			}
			var out string
			switch d.Cmd {
			case "init":
				f = newFollowPolicy(d.HasArg("authority"), t0)
				out = "ok"
			case "probe":
				out = yesNo(f.probe(now, scanPeers(t, d, "peers")), "probe", "no probe")
			case "climb":
				peers := scanPeers(t, d, "peers")
				var followers []string
				for _, p := range scanPeers(t, d, "followers") {
					followers = append(followers, p.id)
				}
				out = "no climb"
				if p, ok := f.climb(now, peers, followers); ok {
					out = "ask " + p.id
				}
			case "climbed":
				var peer string
				var depth int
				d.ScanArgs(t, "peer", &peer)
				d.ScanArgs(t, "depth", &depth)
				moved := f.climbed(now, syncPeer{id: peer}, d.HasArg("useful"), d.HasArg("ok"), d.HasArg("brought"), byte(depth))
				out = yesNo(moved, "moved", "stay") + " also=" + cmp.Or(f.alsoFrom(now), "none")
			case "push":
				var from string
				var height, pushed uint64
				d.ScanArgs(t, "from", &from)
				d.ScanArgs(t, "height", &height)
				d.ScanArgs(t, "pushed", &pushed)
				out = [...]string{pushIgnore: "ignore", pushApply: "apply", pushSync: "sync"}[f.pushed(now, from, height, pushed)]
			case "answer":
				var peer string
				var depth int
				d.ScanArgs(t, "peer", &peer)
				d.ScanArgs(t, "depth", &depth)
				p := syncPeer{id: peer, authority: d.HasArg("auth")}
				out = yesNo(f.answer(now, p, f.flagsFor(peer), d.HasArg("useful"), d.HasArg("ok"), byte(depth)), "stop", "next")
			case "open?":
				out = yesNo(f.open(), "open", "closed")
			case "order":
				var list string
				d.ScanArgs(t, "peers", &list)
				var peers []syncPeer
				for _, p := range strings.Split(list, ",") {
					peers = append(peers, syncPeer{id: p})
				}
				var ids []string
				for _, p := range f.order(peers) {
					ids = append(ids, p.id)
				}
				out = strings.Join(ids, ",")
			case "resort?":
				out = yesNo(f.needLastResort(now, d.HasArg("behind"), !d.HasArg("nohomes")), "last resort", "no last resort")
			case "resort":
				var peer string
				var depth int
				d.ScanArgs(t, "peer", &peer)
				d.ScanArgs(t, "depth", &depth)
				f.lastResort(now, peer, byte(depth))
				out = "ok"
			default:
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			up := f.upstream
			if up == "" {
				up = "none"
			}
			return fmt.Sprintf("%s\nupstream=%s flags=%d depth=%d\n", out, up, f.flags, f.toldDepth())
		})
	})
}

// scanPeers reads a list of peers, * marking an authority (none if the
// argument is absent).
func scanPeers(t *testing.T, d *datadriven.TestData, arg string) []syncPeer {
	if !d.HasArg(arg) {
		return nil
	}
	var list string
	d.ScanArgs(t, arg, &list)
	var peers []syncPeer
	for _, p := range strings.Split(list, ",") {
		id, auth := strings.CutSuffix(p, "*")
		peers = append(peers, syncPeer{id: id, authority: auth})
	}
	return peers
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// TestPushAction: a home applies the next block pushed by its upstream,
// syncs for a later one, and ignores the rest; an authority, which follows
// nobody, ignores every push. An applied push counts as the upstream's
// useful answer (it keeps the upstream from going stale).
func TestPushAction(t *testing.T) {
	for _, c := range []struct {
		name            string
		authority       bool
		up, from        string
		height, pushed  uint64
		want            pushAction
		keepsUpstreamOn bool
	}{
		{"next block from the upstream", false, "u", "u", 10, 11, pushApply, true},
		{"a later block from the upstream", false, "u", "u", 10, 13, pushSync, false},
		{"a block we have", false, "u", "u", 10, 10, pushIgnore, false},
		{"an older block", false, "u", "u", 10, 4, pushIgnore, false},
		{"next block from another peer", false, "u", "x", 10, 11, pushIgnore, false},
		{"a later block from another peer", false, "u", "x", 10, 13, pushIgnore, false},
		{"a home with no upstream", false, "", "x", 10, 11, pushIgnore, false},
		{"an authority", true, "", "x", 10, 11, pushIgnore, false},
	} {
		if got := pushActionFor(c.up, "", c.from, c.height, c.pushed); !c.authority && got != c.want {
			t.Errorf("%s: pushActionFor(%q, \"\", %q, %d, %d) = %d; want %d", c.name, c.up, c.from, c.height, c.pushed, got, c.want)
		}
		f := newFollowPolicy(c.authority, t0)
		f.set(c.up, 0, 3)
		now := t0.Add(time.Minute)
		if got := f.pushed(now, c.from, c.height, c.pushed); got != c.want {
			t.Errorf("%s: followPolicy.pushed = %d; want %d", c.name, got, c.want)
		}
		if kept := f.got.Equal(now) && f.lastUseful.Equal(now); kept != c.keepsUpstreamOn {
			t.Errorf("%s: the push counted as a useful answer: %v; want %v", c.name, kept, c.keepsUpstreamOn)
		}
	}
}

// TestClimb: a home following a home asks, every climbEvery, a home peer
// known to be shallower than its upstream (else, every climbRetry, any not
// refused lately) and moves there if it serves and is still shallower; a
// home following an authority and an authority do not climb, a home on the
// last resort seeks (last_resort.txt), and no home climbs to a follower of
// its own.
func TestClimb(t *testing.T) {
	homes := []syncPeer{{"up", false}, {"a1", true}, {"h1", false}, {"h2", false}, {"h3", false}}
	policy := func(authority bool, up string, flags, depth byte) followPolicy {
		f := newFollowPolicy(authority, t0)
		f.set(up, flags, depth)
		f.peerDepth = map[string]byte{"h1": 2, "h2": 5, "h3": 9}
		return f
	}
	for _, c := range []struct {
		name      string
		f         followPolicy
		followers []string
		want      string // "" for no climb
	}{
		{"under a home at depth 4: h1 (2) first", policy(false, "up", 0, 4), nil, "h1"},
		{"under a home at depth 4 that h1 follows: h2", policy(false, "up", 0, 4), []string{"h1"}, "h2"},
		{"under a home at depth 2: none shallower, so any (the first wide ask)", policy(false, "up", 0, 2), nil, "h1"},
		{"under an authority", policy(false, "a1", 0, 0), nil, ""},
		{"an authority", policy(true, "", 0, noDepth), nil, ""},
		{"no upstream", policy(false, "", 0, noDepth), nil, ""},
		// A home on the last resort seeks any home instead, not its
		// followers (testdata/follow/last_resort.txt).
		{"last resort: the first home that is not a follower", policy(false, "a1", wire.SyncLastResort, 0), []string{"up"}, "h1"},
	} {
		now := t0.Add(time.Hour)
		p, ok := c.f.climb(now, homes, c.followers)
		if got := map[bool]string{true: p.id}[ok]; got != c.want {
			t.Errorf("%s: climb = %q; want %q", c.name, got, c.want)
		}
	}

	// The pacing: one ask a climbEvery, a peer that refused not again for
	// climbRetry, a wide ask (to a peer not known shallower) a climbRetry.
	f := policy(false, "up", 0, 6)
	now := t0.Add(time.Hour)
	var asked []string
	for i := range 5 {
		at := now.Add(time.Duration(i) * climbEvery)
		if p, ok := f.climb(at, homes, nil); ok {
			asked = append(asked, p.id)
			f.climbed(at, p, false, false, false, f.peerDepth[p.id]) // refused
		}
		if _, ok := f.climb(at.Add(climbEvery/2), homes, nil); ok {
			t.Errorf("climbed twice within climbEvery at %v", at)
		}
	}
	if got, want := strings.Join(asked, ","), "h1,h2,h3"; got != want {
		t.Errorf("asks over 5 climbEvery (h1 and h2 shallower than 6, every peer refuses): %s; want %s (h3, not known shallower, in the one wide ask; the refused wait climbRetry)", got, want)
	}

	// The answer: taken if it served and is shallower; the left upstream's
	// pushes are taken for followExpire.
	for _, c := range []struct {
		name   string
		useful bool
		depth  byte
		moved  bool
	}{
		{"served, shallower", true, 2, true},
		{"served, not shallower", true, 5, false},
		{"busy", false, 2, false},
	} {
		f := policy(false, "up", 0, 5)
		moved := f.climbed(now, syncPeer{"h1", false}, c.useful, c.useful, c.useful, c.depth)
		if moved != c.moved || moved && (f.upstream != "h1" || f.flags != 0 || f.depth != c.depth || f.leftFor(now) != "up") || !moved && f.upstream != "up" {
			t.Errorf("%s: moved %v, upstream %s flags %d depth %d left %q; want moved %v", c.name, moved, f.upstream, f.flags, f.depth, f.leftFor(now), c.moved)
		}
		if moved && f.leftFor(now.Add(followExpire)) != "" {
			t.Errorf("%s: the left upstream's pushes still taken after followExpire", c.name)
		}
		if moved && pushActionFor(f.upstream, f.leftFor(now), "up", 10, 11) != pushApply {
			t.Errorf("%s: the next block pushed by the upstream just left is not taken", c.name)
		}
	}
}
