package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDropLog: a peer's first dropped RPC is reported at once, later ones
// at most every dropLogEvery with the count since the last report, and
// what is left when its stream closes; peers are counted apart, and a
// closed peer starts over.
func TestDropLog(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		close  bool
		p      peer.ID
		at     time.Duration
		report bool
		n      int // reported (note) or returned (close)
	}
	steps := []step{
		{p: "a", at: 0, report: true, n: 1},
		{p: "a", at: time.Second},
		{p: "b", at: time.Second, report: true, n: 1},
		{p: "a", at: 9 * time.Second},
		{p: "a", at: dropLogEvery, report: true, n: 3},
		{p: "a", at: dropLogEvery + time.Second},
		{p: "a", at: 2*dropLogEvery - time.Millisecond},
		{close: true, p: "a", n: 2},
		{close: true, p: "a", n: 0},
		{close: true, p: "b", n: 0},
		{p: "a", at: 2 * dropLogEvery, report: true, n: 1},
	}
	var d dropLog
	for i, s := range steps {
		if s.close {
			if n := d.closed(s.p); n != s.n {
				t.Fatalf("step %d: closed(%s) = %d, want %d", i, s.p, n, s.n)
			}
			continue
		}
		report, n := d.note(s.p, at(s.at))
		if report != s.report || n != s.n {
			t.Fatalf("step %d: note(%s, +%v) = %v, %d; want %v, %d", i, s.p, s.at, report, n, s.report, s.n)
		}
	}
	if len(d.peers) != 1 {
		t.Fatalf("%d peers remembered, want 1", len(d.peers))
	}
}
