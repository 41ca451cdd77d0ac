package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"
)

// payloads returns the sorted payloads of ms.
func payloads(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Payload)
	}
	sort.Strings(out)
	return out
}

func drain(t *testing.T, tp *Topic, d time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return payloads(collect(ctx, tp))
}

func TestReannouncementDeliveredOnce(t *testing.T) {
	_, topics := mesh(t, 3, nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := topics[0].PublishUntil(ctx, []byte("order-1"), time.Now().Add(time.Minute+time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	for i := 1; i < 3; i++ {
		if got := drain(t, topics[i], 500*time.Millisecond); fmt.Sprint(got) != "[order-1]" {
			t.Errorf("host %d got %q, want order-1 once", i, got)
		}
	}
}

func TestPartitionHealWithReannouncement(t *testing.T) {
	t.Parallel()
	// a - b | c - d : b and c are the bridge that the partition cuts.
	hosts := make([]*Host, 4)
	for i := range hosts {
		hosts[i] = newTestHost(t, byte(20+i), nil)
	}
	a, b, c, d := hosts[0], hosts[1], hosts[2], hosts[3]
	connect(t, a, b)
	connect(t, b, c)
	connect(t, c, d)
	topics := make([]*Topic, 4)
	for i, h := range hosts {
		tp, err := h.Join("tx", nil)
		if err != nil {
			t.Fatal(err)
		}
		topics[i] = tp
	}
	eventually(t, 5*time.Second, "topic peers", func() bool {
		return len(topics[1].Peers()) == 2 && len(topics[2].Peers()) == 2
	})
	time.Sleep(settle)

	// Partition.
	if err := b.Block(c.ID()); err != nil {
		t.Fatal(err)
	}
	if err := c.Block(b.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the partition", func() bool {
		return len(b.Peers()) == 1 && len(c.Peers()) == 1
	})
	ctx := context.Background()
	if err := topics[0].Publish(ctx, []byte("left")); err != nil {
		t.Fatal(err)
	}
	if err := topics[3].Publish(ctx, []byte("right")); err != nil {
		t.Fatal(err)
	}
	want := []string{"[left]", "[left]", "[right]", "[right]"} // what b, c see during the partition, by host
	for i := 1; i < 3; i++ {
		if got := fmt.Sprint(drain(t, topics[i], 500*time.Millisecond)); got != want[i] {
			t.Errorf("during partition host %d got %s, want %s", i, got, want[i])
		}
	}
	if got := fmt.Sprint(drain(t, topics[0], 100*time.Millisecond)); got != "[]" {
		t.Errorf("host a got %s, want nothing (its own message)", got)
	}
	if got := fmt.Sprint(drain(t, topics[3], 100*time.Millisecond)); got != "[]" {
		t.Errorf("host d got %s, want nothing (its own message)", got)
	}

	// Heal, then the publishers re-announce what is still valid.
	if err := b.Unblock(c.ID()); err != nil {
		t.Fatal(err)
	}
	if err := c.Unblock(b.ID()); err != nil {
		t.Fatal(err)
	}
	connect(t, b, c)
	eventually(t, 5*time.Second, "the heal", func() bool {
		return len(topics[1].Peers()) == 2 && len(topics[2].Peers()) == 2
	})
	time.Sleep(settle)
	if err := topics[0].Publish(ctx, []byte("left")); err != nil {
		t.Fatal(err)
	}
	if err := topics[3].Publish(ctx, []byte("right")); err != nil {
		t.Fatal(err)
	}
	after := []string{"[right]", "[right]", "[left]", "[left]"} // each host gets only what it missed
	for i := range topics {
		if got := fmt.Sprint(drain(t, topics[i], 500*time.Millisecond)); got != after[i] {
			t.Errorf("after heal host %d got %s, want %s", i, got, after[i])
		}
	}
}

func TestSpammerScoredDown(t *testing.T) {
	hosts, topics := mesh(t, 3, nil)
	attacker := topics[0]
	if err := attacker.n.ps.UnregisterTopicValidator(attacker.name); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	valid := time.Now().Add(time.Minute).UnixMilli()
	for i := 0; i < 8; i++ { // five invalid messages graylist a peer
		b := signedEnvelope(t, hosts[0].cfg.Key, testNet, valid, fmt.Appendf(nil, "spam %d", i))
		b[len(b)-1] ^= 1
		if err := attacker.t.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < 3; i++ {
		eventually(t, 5*time.Second, fmt.Sprintf("host %d to graylist the spammer", i), func() bool {
			s, ok := hosts[i].Scores()[hosts[0].ID()]
			return ok && s < GraylistThreshold
		})
		if s := hosts[i].Scores()[hosts[2/i].ID()]; s < 0 {
			t.Errorf("host %d scores the honest host %d at %v, want >= 0", i, 2/i, s)
		}
	}
	// Honest traffic still flows; the graylisted spammer's valid messages do not.
	if err := attacker.t.Publish(ctx, signedEnvelope(t, hosts[0].cfg.Key, testNet, valid, []byte("late valid"))); err != nil {
		t.Fatal(err)
	}
	if err := topics[2].Publish(ctx, []byte("honest")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(drain(t, topics[1], 500*time.Millisecond)); got != "[honest]" {
		t.Errorf("host 1 got %s, want [honest]", got)
	}
}

func TestGossipPerSenderRateLimit(t *testing.T) {
	a := newTestHost(t, 51, nil)
	b := newTestHost(t, 52, func(c *Config) { c.SenderRate = 2 }) // burst 4
	connect(t, a, b)
	ta, err := a.Join("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Join("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "topic peers", func() bool { return len(ta.Peers()) == 1 && len(tb.Peers()) == 1 })
	time.Sleep(settle)
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < 20; i++ {
		if err := ta.Publish(ctx, fmt.Appendf(nil, "burst %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	got := drain(t, tb, 300*time.Millisecond)
	// 4 from the burst allowance plus the 2/s refill while the burst lasted.
	maxWant := 4 + int(2*time.Since(start).Seconds()) + 1
	if len(got) < 4 || len(got) > maxWant {
		t.Errorf("b delivered %d of 20 messages sent in a burst, want 4..%d (rate 2/s, burst 4): %q", len(got), maxWant, got)
	}
	if st := b.Stats(); st.RateLimit+int64(len(got)) != 20 || st.Accepted != int64(len(got)) {
		t.Errorf("b stats: RateLimit %d + delivered %d, want 20; Accepted %d, want %d", st.RateLimit, len(got), st.Accepted, len(got))
	}
	if s := b.Scores()[a.ID()]; s < 0 {
		t.Errorf("rate-limited (ignored) messages lowered a's score to %v, want >= 0", s)
	}
}

// An Unlimited signer (an authority) is not held to SenderRate.
func TestGossipUnlimitedSigner(t *testing.T) {
	a := newTestHost(t, 53, nil)
	b := newTestHost(t, 54, func(c *Config) { c.SenderRate = 2; c.Unlimited = []ed25519.PublicKey{a.PublicKey()} })
	connect(t, a, b)
	ta, err := a.Join("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Join("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "topic peers", func() bool { return len(ta.Peers()) == 1 && len(tb.Peers()) == 1 })
	time.Sleep(settle)
	for i := 0; i < 20; i++ {
		if err := ta.Publish(context.Background(), fmt.Appendf(nil, "burst %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := drain(t, tb, 500*time.Millisecond); len(got) != 20 {
		t.Errorf("b delivered %d of 20 messages from an unlimited signer, want 20", len(got))
	}
	if st := b.Stats(); st.RateLimit != 0 {
		t.Errorf("b rate-limited %d messages of an unlimited signer, want 0", st.RateLimit)
	}
	// Voted out of the authority set: held to SenderRate again.
	b.SetUnlimited(nil)
	for i := 0; i < 20; i++ {
		if err := ta.Publish(context.Background(), fmt.Appendf(nil, "later %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := drain(t, tb, 500*time.Millisecond); len(got) >= 20 {
		t.Errorf("b delivered all %d messages of a signer no longer unlimited, want the rate limit to hold", len(got))
	}
	if st := b.Stats(); st.RateLimit == 0 {
		t.Errorf("b rate-limited nothing after SetUnlimited(nil), want some of the 20")
	}
}

func TestDirectPeers(t *testing.T) {
	a := newTestHost(t, 71, nil)
	b := newTestHost(t, 72, func(c *Config) { c.Direct = a.Addrs() })
	eventually(t, 5*time.Second, "b to connect to its direct peer", func() bool { return len(b.Peers()) == 1 })
	ta, err := a.Join("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Join("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "topic peers", func() bool { return len(ta.Peers()) == 1 && len(tb.Peers()) == 1 })
	if err := tb.Publish(context.Background(), []byte("to authority")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(drain(t, ta, 500*time.Millisecond)); got != "[to authority]" {
		t.Errorf("a got %s, want [to authority]", got)
	}
	// The direct peer is trusted: its app-specific bonus shows in b's scores.
	eventually(t, 3*time.Second, "b to score its direct peer", func() bool {
		return b.Scores()[a.ID()] >= trustedPeerScore
	})
	// Dropping the connection: b redials its direct peer (a new connection appears).
	old := b.h.Network().ConnsToPeer(a.h.ID())[0].ID()
	if err := b.h.Network().ClosePeer(a.h.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "b to redial its direct peer", func() bool {
		cs := b.h.Network().ConnsToPeer(a.h.ID())
		return len(cs) == 1 && cs[0].ID() != old
	})
}

// A publish-only host hands its messages to subscribed peers, and neither
// receives nor forwards the topic's other messages.
func TestJoinPublishOnly(t *testing.T) {
	home := newTestHost(t, 81, nil)
	auth := newTestHost(t, 82, nil)
	other := newTestHost(t, 83, nil)
	connect(t, home, auth)
	connect(t, auth, other)
	th, err := home.JoinPublishOnly("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	ta, err := auth.Join("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	to, err := other.Join("tx", nil)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the home to see the authority subscribed", func() bool { return len(th.Peers()) == 1 })
	eventually(t, 5*time.Second, "topic mesh", func() bool { return len(to.Peers()) == 1 && len(ta.Peers()) == 1 })
	time.Sleep(settle)
	if len(ta.Peers()) != 1 {
		t.Errorf("the authority sees %d subscribed peers, want 1 (the home is not subscribed)", len(ta.Peers()))
	}
	ctx := context.Background()
	if err := th.Publish(ctx, []byte("home order")); err != nil {
		t.Fatal(err)
	}
	if err := to.Publish(ctx, []byte("other order")); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, ta, 500*time.Millisecond); fmt.Sprint(got) != "[home order other order]" {
		t.Errorf("authority got %q, want both orders", got)
	}
	if got := drain(t, to, 300*time.Millisecond); fmt.Sprint(got) != "[home order]" {
		t.Errorf("other got %q, want the home's order (forwarded by the authority)", got)
	}
	if _, err := th.Next(ctx); !errors.Is(err, ErrPublishOnly) {
		t.Errorf("Next on a publish-only topic: err %v, want ErrPublishOnly", err)
	}
	// The home validated only its own publication: nothing reached it.
	if st := home.Stats(); st.Accepted != 1 {
		t.Errorf("home accepted %d messages, want 1 (its own)", st.Accepted)
	}
}

// Stats counts the bytes a host's streams carry.
func TestStatsCountBytes(t *testing.T) {
	_, topics := mesh(t, 2, nil)
	a, b := topics[0].n, topics[1].n
	before := b.Stats()
	payload := make([]byte, 10_000)
	if err := topics[0].Publish(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, topics[1], 500*time.Millisecond); len(got) != 1 {
		t.Fatalf("b got %d messages, want 1", len(got))
	}
	if in := b.Stats().BytesIn - before.BytesIn; in < int64(len(payload)) {
		t.Errorf("b counted %d bytes in after a %d-byte message arrived, want at least that", in, len(payload))
	}
	if out := a.Stats().BytesOut; out < int64(len(payload)) {
		t.Errorf("a counted %d bytes out after publishing %d bytes, want at least that", out, len(payload))
	}
}
