package sim

import "testing"

func TestExplore(t *testing.T) {
	type tc struct {
		name string
		mod  func(*Config)
		n, b int
	}
	cases := []tc{
		{"byz-heavy", func(c *Config) { c.ByzAct = 0.6 }, 4, 1},
		{"lossy5", func(c *Config) { c.Loss, c.Late, c.LateDelay = 0.3, 0.05, 4000 }, 5, 1},
		{"seven-two", func(c *Config) { c.ByzAct = 0.4; c.Crash = 0.03 }, 7, 2},
		{"fast-long-chaos", func(c *Config) { c.ChaosMs = 60_000; c.FastClocks = 1 }, 7, 1},
	}
	for _, c := range cases {
		for seed := uint64(200); seed < 206; seed++ {
			cfg := DefaultConfig(seed, c.n, c.b)
			c.mod(&cfg)
			st, v, err := Run(cfg, 40_000)
			if err != nil {
				t.Fatal(err)
			}
			if v != nil {
				t.Errorf("%s seed %d: %s", c.name, seed, v.Report())
				continue
			}
			t.Logf("%s seed %d: heights %d settled %d invalid %d restarts %d evidence %d", c.name, seed, st.Heights, st.Settled, st.Invalid, st.Restarts, st.Evidence)
		}
	}
}
