package node

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gridmesh/gridmesh/wire"
)

// The batcher sends the first transaction of a batch batchDelay after it
// came, with whatever came meanwhile, and a full batch at once; a waiting
// submitter is released when its batch is sent. (synctest: the batcher's own
// goroutine and timer, on a fake clock.)
func TestBatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		in := make(chan outTx, wire.MaxBatchTxs+1)
		batches := make(chan [][]byte, 4) // decoded; a channel, as the race detector sees no order in synctest.Wait
		done := make(chan error, 1)
		go func() {
			done <- runBatcher(ctx, in, func(b []byte) {
				raws, err := wire.DecodeTxBatch(b)
				if err != nil {
					t.Errorf("batch does not decode: %v", err)
				}
				batches <- raws
			})
		}()
		var sent [][][]byte
		drain := func() {
			for {
				select {
				case b := <-batches:
					sent = append(sent, b)
				default:
					return
				}
			}
		}
		advance := func(d time.Duration) {
			<-time.After(d) // fake time: the bubble's clock moves once all wait
			synctest.Wait()
			drain()
		}

		released := make(chan struct{})
		in <- outTx{raw: []byte("a"), done: released}
		in <- outTx{raw: []byte("b")}
		advance(batchDelay - time.Millisecond)
		if len(sent) != 0 {
			t.Fatalf("%d batches sent before batchDelay; want none", len(sent))
		}
		select {
		case <-released:
			t.Fatal("submitter released before its batch was sent")
		default:
		}
		advance(time.Millisecond)
		if len(sent) != 1 || !slices.EqualFunc(sent[0], [][]byte{[]byte("a"), []byte("b")}, bytes.Equal) {
			t.Fatalf("after batchDelay: batches %q; want one of a and b", sent)
		}
		select {
		case <-released:
		default:
			t.Fatal("submitter not released after its batch was sent")
		}

		for range wire.MaxBatchTxs {
			in <- outTx{raw: []byte("x")}
		}
		synctest.Wait() // no time passes
		drain()
		if len(sent) != 2 || len(sent[1]) != wire.MaxBatchTxs {
			t.Fatalf("after %d txs: %d batches; want a second, full one sent at once", wire.MaxBatchTxs, len(sent))
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runBatcher returned %v; want nil", err)
		}
	})
}
