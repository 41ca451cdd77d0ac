package sim

// SegmentSeed is the seed of segment i of a long run: the run's seed for the
// first segment, a fixed mix of it and i for the others.
func SegmentSeed(seed uint64, i int) uint64 {
	if i == 0 {
		return seed
	}
	return seed ^ (uint64(i) * 0x9e3779b97f4a7c15)
}

// RunLong runs steps in segments of at most segment steps (segment <= 0: one
// network for the whole run). Each segment is a fresh network from genesis
// seeded with SegmentSeed(cfg.Seed, i): an in-memory store grows with every
// block, so segments keep memory bounded for runs of 10^7 steps and more. The
// Stats are summed over the segments; a Violation names its segment's seed, which
// reproduces it on its own.
func RunLong(cfg Config, steps, segment int, progress func(done Stats)) (Stats, *Violation, error) {
	if segment <= 0 {
		segment = steps
	}
	total := Stats{Seed: cfg.Seed, Crashes: map[string]int{}}
	for i := 0; total.Steps < steps; i++ {
		c := cfg
		c.Seed = SegmentSeed(cfg.Seed, i)
		st, v, err := Run(c, min(segment, steps-total.Steps))
		total.add(st)
		if err != nil || v != nil {
			return total, v, err
		}
		if progress != nil {
			progress(total)
		}
		if st.Steps == 0 {
			break
		}
	}
	return total, nil, nil
}

func (t *Stats) add(s Stats) {
	t.Segments++
	t.Steps += s.Steps
	t.Heights += s.Heights
	t.SimMs += s.SimMs
	t.Restarts += s.Restarts
	t.Syncs += s.Syncs
	t.Evidence += s.Evidence
	t.Settled += s.Settled
	t.Rejected += s.Rejected
	t.ByzActs += s.ByzActs
	t.Txs += s.Txs
	t.Heals += s.Heals
	t.Invalid += s.Invalid
	t.Ahead += s.Ahead
	t.Transfers += s.Transfers
	t.Pruned += s.Pruned
	for k, c := range s.Crashes {
		t.Crashes[k] += c
	}
	t.Digest = t.Digest*0x100000001b3 ^ s.Digest
}
