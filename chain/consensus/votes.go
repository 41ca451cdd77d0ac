package consensus

// Messages returns the signed messages the engine holds for round r of its
// current height, for answering a peer that asks for what it missed (gossip is
// best-effort): the round's proposals, then its prevotes and precommits in
// validator order, each validator's in arrival order. Own messages are
// included. The slice is new; the messages share their Value bytes with the
// engine, which never changes them.
func (e *Engine) Messages(r int32) []Message {
	rv := e.rounds[r]
	if rv == nil {
		return nil
	}
	out := make([]Message, 0, len(rv.proposals)+2*len(e.vals))
	out = append(out, rv.proposals...)
	for t := range rv.votes {
		for _, vs := range rv.votes[t] {
			out = append(out, vs...)
		}
	}
	return out
}
