package node

import (
	"slices"
	"testing"
	"time"

	"github.com/gridmesh/gridmesh/chain/consensus"
)

// t0 is an arbitrary start for the policies' clocks: they only compare times.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// Work is signalled at once for a due gate closure or settlement and for a
// full batch, else only batchGap after the last commit.
func TestWorkPolicy(t *testing.T) {
	for _, c := range []struct {
		name        string
		sinceCommit time.Duration
		due         bool
		pending     int
		want        bool
	}{
		{"idle", time.Hour, false, 0, false},
		{"due, nothing pending", 0, true, 0, true},
		{"one pending right after a commit", 10 * time.Millisecond, false, 1, false},
		{"one pending just before batchGap", batchGap - time.Millisecond, false, 1, false},
		{"one pending at batchGap", batchGap, false, 1, true},
		{"a full batch right after a commit", 0, false, batchTxs, true},
		{"one short of a full batch", 0, false, batchTxs - 1, false},
	} {
		var p workPolicy
		p.committed(t0)
		if got := p.work(at(c.sinceCommit), c.due, c.pending); got != c.want {
			t.Errorf("%s: work = %v; want %v", c.name, got, c.want)
		}
	}
	var fresh workPolicy // no commit yet: what is pending waits for nothing
	if !fresh.work(t0, false, 1) {
		t.Error("before any commit, one pending tx: no work; want work")
	}
}

// A round that makes no progress for askVotesAfter is asked about, at most
// every askVotesEvery, one peer in turn; a new round or height restarts the
// wait, and an idle engine asks nothing.
func TestVoteAsker(t *testing.T) {
	type step struct {
		at    time.Duration
		h     uint64
		r     int32
		st    consensus.RoundStep
		peers int
		want  int // the peer asked; -1 for none
	}
	const propose = consensus.StepNewHeight + 1
	steps := []step{
		{0, 5, 0, propose, 3, -1},                                // the round starts
		{askVotesAfter - time.Millisecond, 5, 0, propose, 3, -1}, // not stalled yet
		{askVotesAfter, 5, 0, propose, 3, 1},                     // stalled: the first in turn
		{askVotesAfter + askVotesEvery/2, 5, 0, propose, 3, -1},  // asked recently
		{askVotesAfter + askVotesEvery, 5, 0, propose, 3, 2},     // the next in turn
		{askVotesAfter + 2*askVotesEvery, 5, 0, propose, 3, 0},   // and round the ring
		{4 * time.Second, 5, 1, propose, 3, -1},                  // a new round: wait again
		{4*time.Second + askVotesAfter, 5, 1, propose, 3, 1},
		{10 * time.Second, 6, 0, consensus.StepNewHeight, 3, -1}, // idle at a new height
		{20 * time.Second, 6, 0, consensus.StepNewHeight, 3, -1}, // still idle: never asks
	}
	var a voteAsker
	for i, s := range steps {
		got := -1
		if a.due(at(s.at), s.h, s.r, s.st) {
			got = a.ask(at(s.at), s.peers)
		}
		if got != s.want {
			t.Errorf("step %d (at %s, height %d round %d): asked %d; want %d", i, s.at, s.h, s.r, got, s.want)
		}
	}
}

// A home re-sends every republishEvery, to the next authority each time.
func TestResender(t *testing.T) {
	var r resender
	var turns []int
	for _, d := range []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 6 * time.Second} {
		if r.due(at(d)) {
			turns = append(turns, r.next())
		}
	}
	// t0 is long after the zero time: due at once, then every 2 s.
	if want := []int{1, 2, 3, 4}; !slices.Equal(turns, want) {
		t.Errorf("re-send turns %v; want %v (at 0, 2, 4 and 6 s)", turns, want)
	}
}

// The sync pacing rules: every interval; a head push at once unless a sync
// started within headSyncGap, then at the first tick syncGap after it; a
// full answer or an authority behind at the first tick syncGap after the
// last sync.
func TestSyncPacer(t *testing.T) {
	type ev struct {
		at     time.Duration
		what   string // tick, head, full, behind (a tick while behind)
		synced bool
	}
	for _, c := range []struct {
		name string
		evs  []ev
	}{
		{"polls every interval", []ev{
			{0, "tick", true}, {100 * time.Millisecond, "tick", false},
			{999 * time.Millisecond, "tick", false}, {time.Second, "tick", true},
		}},
		{"a head push syncs at once", []ev{
			{0, "tick", true}, {400 * time.Millisecond, "head", true}, {500 * time.Millisecond, "tick", false},
		}},
		{"a head push right after a sync waits for the tick syncGap later", []ev{
			{0, "tick", true}, {20 * time.Millisecond, "head", false},
			{200 * time.Millisecond, "tick", false}, {syncGap, "tick", true},
			{syncGap + 100*time.Millisecond, "tick", false},
		}},
		{"a head push at headSyncGap syncs", []ev{
			{0, "tick", true}, {headSyncGap, "head", true},
		}},
		{"a full answer asks again syncGap later", []ev{
			{0, "tick", true}, {10 * time.Millisecond, "full", false},
			{200 * time.Millisecond, "tick", false}, {syncGap, "tick", true},
			{syncGap + 100*time.Millisecond, "tick", false},
		}},
		{"an authority behind catches up at every tick syncGap apart", []ev{
			{0, "behind", true}, {100 * time.Millisecond, "behind", false},
			{syncGap, "behind", true}, {2 * syncGap, "behind", true},
		}},
	} {
		p := syncPacer{every: time.Second}
		p.last = t0.Add(-time.Hour)
		for i, e := range c.evs {
			var got bool
			switch e.what {
			case "tick":
				got = p.tick(at(e.at), false)
			case "behind":
				got = p.tick(at(e.at), true)
			case "head":
				got = p.head(at(e.at))
			case "full":
				p.full()
			}
			if got != e.synced {
				t.Errorf("%s: event %d (%s at %s): synced %v; want %v", c.name, i, e.what, e.at, got, e.synced)
			}
		}
	}
}

// An unsynchronised clock is reported at once, then at most once a minute.
func TestClockWarner(t *testing.T) {
	var w clockWarner
	var got []time.Duration
	for d := time.Duration(0); d <= 150*time.Second; d += 10 * time.Second {
		if w.due(at(d)) {
			got = append(got, d)
		}
	}
	if want := []time.Duration{0, time.Minute, 2 * time.Minute}; !slices.Equal(got, want) {
		t.Errorf("warned at %v; want %v", got, want)
	}
}

// One proposal fetch per sender at a time, one per height and round every
// fetchEvery, none once one brought the proposal; another sender or round
// is independent.
func TestFetchPolicy(t *testing.T) {
	p := make(fetchPolicy)
	type ev struct {
		at   time.Duration
		op   string // start, done, got (done with the proposal)
		key  string
		h    uint64
		r    int32
		want bool // for start
	}
	for i, e := range []ev{
		{0, "start", "a", 5, 0, true},
		{10 * time.Millisecond, "start", "a", 5, 0, false}, // in flight
		{10 * time.Millisecond, "start", "a", 5, 1, false}, // in flight, any round
		{20 * time.Millisecond, "start", "b", 5, 0, true},  // another sender
		{100 * time.Millisecond, "done", "a", 0, 0, false},
		{200 * time.Millisecond, "start", "a", 5, 0, false}, // within fetchEvery
		{fetchEvery, "start", "a", 5, 0, true},              // again after fetchEvery
		{fetchEvery + time.Millisecond, "got", "a", 0, 0, false},
		{5 * fetchEvery, "start", "a", 5, 0, false}, // it brought the proposal
		{5 * fetchEvery, "start", "a", 5, 1, true},  // a new round
		{5 * fetchEvery, "start", "b", 5, 0, false}, // b still in flight
	} {
		switch e.op {
		case "start":
			if got := p.start(e.key, e.h, e.r, at(e.at)); got != e.want {
				t.Errorf("event %d: start %s (%d, %d) at %s = %v; want %v", i, e.key, e.h, e.r, e.at, got, e.want)
			}
		case "done", "got":
			p.done(e.key, e.op == "got")
		}
	}
}
