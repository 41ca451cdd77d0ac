package node

import (
	"github.com/gridmesh/gridmesh/wire"
)

// verifyCertified checks that a block carries a valid commit certificate from the
// authority set of its height (wire.VerifyCertified). It does not execute the
// block.
func (n *Node) verifyCertified(c wire.Certified) error {
	return wire.VerifyCertified(n.gen.ChainID, consensusIDs(n.authoritiesAt(c.Block.Header.Height)), c)
}
