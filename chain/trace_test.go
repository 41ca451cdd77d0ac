package chain

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gridmesh/gridmesh/ident"
	"github.com/gridmesh/gridmesh/market"
	"github.com/gridmesh/gridmesh/unit"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/*.txt")

// TestTraces runs the scenario files in testdata: each case is a command, its
// transactions, "----" and the expected output, separated by blank lines, like
// etcd-io/raft's interaction tests. go test -run Traces -rewrite updates them.
//
//	block SLOT SECONDS       a block at SlotStart(SLOT)+SECONDS s with the txs below
//	check SLOT SECONDS       CheckTx of each tx below at that time
//	balances                 every balance, by name
//
// Transactions: "[#label] NAME order buy|sell SLOT WH PRICE", "NAME cancel #label",
// "NAME attest SLOT IMPORT EXPORT", "NAME admit NAME", "NAME tariff FLOOR CEILING FEE SEQ".
// Names: auth (the authority), operator, alice, bob (in genesis), carol, dave, mallory.
func TestTraces(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no testdata/*.txt")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runTrace(t, f) })
	}
}

type traceCase struct {
	cmd  []string // command line, then tx lines
	want string
}

func parseTrace(t *testing.T, path string) []traceCase {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var cases []traceCase
	var cur *traceCase
	inWant := false
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
		case cur == nil:
			cases = append(cases, traceCase{cmd: []string{line}})
			cur, inWant = &cases[len(cases)-1], false
		case line == "----":
			inWant = true
		case inWant && line == "":
			cur = nil
		case inWant:
			cur.want += line + "\n"
		default:
			cur.cmd = append(cur.cmd, line)
		}
	}
	return cases
}

func runTrace(t *testing.T, path string) {
	keys := map[string]key{"auth": kAuth, "operator": kOperator, "alice": kAlice, "bob": kBob,
		"carol": kCarol, "dave": newKey("dave"), "mallory": kMallory}
	names := map[ident.Account]string{}
	for n, k := range keys {
		names[k.acct] = n
	}
	c := openMem(t, testGenesis())
	labels := map[string]ident.Hash{}
	nonce := uint64(0)
	cases := parseTrace(t, path)
	var out strings.Builder
	for _, tc := range cases {
		got := func() string {
			f := strings.Fields(tc.cmd[0])
			var b strings.Builder
			atTime := func() int64 {
				if len(f) != 3 {
					t.Fatalf("%s: want %q SLOT SECONDS", tc.cmd[0], f[0])
				}
				return ms(unit.Slot(atoi(t, f[1])), atoi(t, f[2]))
			}
			var txs []Tx
			var lbls []string
			for _, l := range tc.cmd[1:] {
				nonce++
				lbl, tx := traceTx(t, l, keys, labels, nonce)
				txs, lbls = append(txs, tx), append(lbls, lbl)
			}
			switch f[0] {
			case "check":
				now := atTime()
				for i, tx := range txs {
					fmt.Fprintf(&b, "%s: %s\n", tc.cmd[i+1], verdict(c.CheckTx(tx, now)))
				}
			case "block":
				now := atTime()
				blk, errs := c.Propose(now, kAuth.acct, txs)
				for i, err := range errs {
					if err != nil {
						fmt.Fprintf(&b, "%s: %s\n", tc.cmd[i+1], verdict(err))
					} else if lbls[i] != "" {
						labels[lbls[i]] = txs[i].Hash()
					}
				}
				evs, err := c.Commit(blk, nil)
				if err != nil {
					t.Fatalf("Commit: %v", err)
				}
				fmt.Fprintf(&b, "height %d: %d txs\n", blk.Header.Height, len(blk.Txs))
				for _, ev := range evs {
					b.WriteString(describe(ev, names, labels))
				}
				if s := sumBalances(c.Balances()); s != 0 {
					fmt.Fprintf(&b, "BALANCES SUM TO %d\n", s)
				}
			case "balances":
				bal := c.Balances()
				var lines []string
				for a, v := range bal {
					lines = append(lines, fmt.Sprintf("%s %s\n", names[a], v))
				}
				slices.Sort(lines)
				b.WriteString(strings.Join(lines, ""))
			default:
				t.Fatalf("unknown command %q", tc.cmd[0])
			}
			return b.String()
		}()
		out.WriteString(strings.Join(tc.cmd, "\n") + "\n----\n" + got + "\n")
		if !*rewrite && got != tc.want {
			t.Errorf("%s:\n%s\ngot:\n%swant:\n%s", path, strings.Join(tc.cmd, "\n"), got, tc.want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimSuffix(out.String(), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func atoi(t *testing.T, s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("number %q: %v", s, err)
	}
	return v
}

func traceTx(t *testing.T, line string, keys map[string]key, labels map[string]ident.Hash, nonce uint64) (string, Tx) {
	f := strings.Fields(line)
	lbl := ""
	if len(f) > 0 && strings.HasPrefix(f[0], "#") {
		lbl, f = f[0], f[1:]
	}
	if len(f) < 2 {
		t.Fatalf("tx %q", line)
	}
	k, ok := keys[f[0]]
	if !ok {
		t.Fatalf("tx %q: unknown name %q", line, f[0])
	}
	n := func(i int) int64 {
		if i >= len(f) {
			t.Fatalf("tx %q: missing argument %d", line, i)
		}
		return atoi(t, f[i])
	}
	switch f[1] {
	case "order":
		side, err := market.ParseSide(f[2])
		if err != nil {
			t.Fatalf("tx %q: %v", line, err)
		}
		return lbl, orderTx(k, side, unit.Slot(n(3)), unit.Wh(n(4)), unit.Price(n(5)), nonce)
	case "cancel":
		h, ok := labels[f[2]]
		if !ok {
			t.Fatalf("tx %q: unknown label", line)
		}
		return lbl, sign(k, Tx{Nonce: nonce, Cancel: &Cancel{Order: h}})
	case "attest":
		return lbl, sign(k, Tx{Nonce: nonce, Attest: &Attest{Slot: unit.Slot(n(2)), Import: unit.Wh(n(3)), Export: unit.Wh(n(4))}})
	case "admit":
		return lbl, sign(k, Tx{Nonce: nonce, Admit: &Admit{Participant: keys[f[2]].acct, Name: f[2]}})
	case "tariff":
		return lbl, sign(k, Tx{Nonce: nonce, Tariff: &Tariff{Floor: unit.Price(n(2)), Ceiling: unit.Price(n(3)), Fee: unit.Price(n(4)), Seq: uint64(n(5))}})
	}
	t.Fatalf("tx %q: unknown kind", line)
	return "", Tx{}
}

func verdict(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func describe(ev Event, names map[ident.Account]string, labels map[string]ident.Hash) string {
	label := func(id string) string {
		for l, h := range labels {
			if h.String() == id {
				return l
			}
		}
		return id[:8]
	}
	var b strings.Builder
	switch ev := ev.(type) {
	case SlotCleared:
		r := ev.Result
		fmt.Fprintf(&b, "cleared slot %d: price %d, volume %d Wh\n", ev.Slot, r.Price, r.Volume)
		for _, tr := range r.Trades {
			fmt.Fprintf(&b, "  trade %s %s -> %s %s: %d Wh at %d\n", names[ident.Account(tr.Seller)], label(tr.Sell), names[ident.Account(tr.Buyer)], label(tr.Buy), tr.Energy, tr.Price)
		}
	case SlotSettled:
		st := ev.Settlement
		fmt.Fprintf(&b, "settled slot %d: %d Wh\n", ev.Slot, st.Energy)
		for _, tr := range st.Transfers {
			fmt.Fprintf(&b, "  %s %+d\n", names[ident.Account(tr.Account)], int64(tr.Amount))
		}
	}
	return b.String()
}
