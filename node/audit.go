package node

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// errAuditFull is what the audit file answers once its cap is reached; the
// p2p host then stops recording.
var errAuditFull = errors.New("the audit file reached network.audit_max_mib")

// auditFile is the capture of every byte the node sends to its peers
// ([network] audit_file, p2p.Config.Audit), with its size cap
// (audit_max_mib). The host writes it one whole record at a time from one
// goroutine at a time; a record that would pass the cap is refused, so the
// file always ends at a whole record.
type auditFile struct {
	path    string
	f       *os.File
	max     int64
	written atomic.Int64
	full    atomic.Bool
}

// openAudit creates (or truncates) the audit file at path, mode 0600: it
// shows what the home sends, which is the home's business.
func openAudit(path string, maxMiB int64) (*auditFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("network.audit_file: %w", err)
	}
	return &auditFile{path: path, f: f, max: maxMiB << 20}, nil
}

func (a *auditFile) Write(p []byte) (int, error) {
	if a.written.Load()+int64(len(p)) > a.max {
		a.full.Store(true)
		return 0, errAuditFull
	}
	n, err := a.f.Write(p)
	a.written.Add(int64(n))
	return n, err
}

func (a *auditFile) Close() error { return a.f.Close() }

// AuditStatus is the status of the audit capture ([network] audit_file).
type AuditStatus struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"` // written so far, of at most audit_max_mib
	Full  bool   `json:"full"`  // the cap was reached: nothing more is recorded
}

func (a *auditFile) status() *AuditStatus {
	return &AuditStatus{File: a.path, Bytes: a.written.Load(), Full: a.full.Load()}
}

// auditWriter is what the host records to: nil, not a nil *auditFile, when
// there is no capture (STYLE.md, small interfaces).
func (n *Node) auditWriter() io.Writer {
	if n.audit == nil {
		return nil
	}
	return n.audit
}
