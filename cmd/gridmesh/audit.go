package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/gridmesh/gridmesh/config"
	"github.com/gridmesh/gridmesh/p2p"
)

// auditSummary is what `gridmesh audit --json` prints.
type auditSummary struct {
	File      string                `json:"file"`
	Streams   []p2p.AuditStream     `json:"streams"`
	Protocols map[string]auditBytes `json:"protocols"`
	Peers     map[string]auditBytes `json:"peers"`
	Bytes     int64                 `json:"bytes"`
}

type auditBytes struct {
	Streams int   `json:"streams"`
	Bytes   int64 `json:"bytes"`
}

// cmdAudit shows the audit capture of a node ([network] audit_file).
func cmdAudit(args []string, stdout io.Writer) error {
	c := newCommand("audit", "[-c node.toml] [--file F] [--dump] [--json]", `
Show what this node sent to its peers: the capture it writes when
[network] audit_file is set in its config, which holds a copy of every
byte the node wrote to any peer, in the clear, before Noise or QUIC
encrypted it (README, Privacy). One line per stream: when it began, who
opened it (out: this node, in: the peer), the peer, the protocol and the
bytes this node sent on it; then the totals per protocol and per peer.
--dump prints every byte as well, in hex and text, record by record.`)
	path := c.fs.String("c", "node.toml", "the node config file, whose network.audit_file is read")
	file := c.fs.String("file", "", "the capture file (default: network.audit_file of the config)")
	dump := c.fs.Bool("dump", false, "print every byte sent, record by record")
	asJSON := c.fs.Bool("json", false, "print the summary as JSON")
	if err := c.parse(args, stdout); err != nil {
		return done(err)
	}
	if *file == "" {
		cfg, err := config.LoadNode(*path)
		if err != nil {
			return err
		}
		if cfg.Network.AuditFile == "" {
			return fmt.Errorf("audit: %s sets no network.audit_file: the node records nothing (set it, restart the node, and run gridmesh audit again)", *path)
		}
		*file = cfg.Path(cfg.Network.AuditFile)
	}
	if *dump {
		return dumpAudit(*file, stdout)
	}
	f, err := os.Open(*file)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	streams, err := p2p.AuditStreams(f)
	if err != nil {
		return fmt.Errorf("audit: %s: %w", *file, err)
	}
	sum := summarise(*file, streams)
	if *asJSON {
		b, err := json.Marshal(sum)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return printAudit(stdout, sum)
}

func summarise(file string, streams []p2p.AuditStream) auditSummary {
	sum := auditSummary{File: file, Streams: streams, Protocols: map[string]auditBytes{}, Peers: map[string]auditBytes{}}
	for _, s := range streams {
		p, q := sum.Protocols[s.Protocol], sum.Peers[s.Peer]
		p.Streams, p.Bytes = p.Streams+1, p.Bytes+s.Bytes
		q.Streams, q.Bytes = q.Streams+1, q.Bytes+s.Bytes
		sum.Protocols[s.Protocol], sum.Peers[s.Peer] = p, q
		sum.Bytes += s.Bytes
	}
	return sum
}

func printAudit(w io.Writer, sum auditSummary) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "stream\tbegan (UTC)\topened by\tpeer\taddress\tprotocol\tbytes sent")
	for _, s := range sum.Streams {
		by := "peer"
		if s.Outbound {
			by = "this node"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\n", s.Stream, s.Time.UTC().Format(time.DateTime+".000"), by, s.Peer, s.Addr, orNone(s.Protocol), s.Bytes)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "protocol\tstreams\tbytes sent")
	for _, k := range sortedKeys(sum.Protocols) {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", orNone(k), sum.Protocols[k].Streams, sum.Protocols[k].Bytes)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "peer\tstreams\tbytes sent")
	for _, k := range sortedKeys(sum.Peers) {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", k, sum.Peers[k].Streams, sum.Peers[k].Bytes)
	}
	fmt.Fprintf(tw, "\ntotal: %d bytes sent on %d streams to %d peers (%s)\n", sum.Bytes, len(sum.Streams), len(sum.Peers), sum.File)
	return tw.Flush()
}

func orNone(p string) string {
	if p == "" {
		return "(none negotiated)"
	}
	return p
}

func sortedKeys(m map[string]auditBytes) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dumpAudit prints every record of the capture at path.
func dumpAudit(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	err = p2p.ReadAudit(f, func(r p2p.AuditRecord) error {
		at := r.Time.UTC().Format(time.DateTime + ".000000")
		if r.Start {
			by := "the peer"
			if r.Outbound {
				by = "this node"
			}
			_, err := fmt.Fprintf(w, "%s stream %d to %s at %s, opened by %s\n", at, r.Stream, r.Peer, r.Addr, by)
			return err
		}
		if _, err := fmt.Fprintf(w, "%s stream %d: %d bytes sent\n%s", at, r.Stream, len(r.Data), hex.Dump(r.Data)); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: %s: %w", path, err)
	}
	return nil
}
