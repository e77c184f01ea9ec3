package provisioner

import (
	"context"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// BenchmarkRequestInherentData measures a request, from RequestInherentData
// to the encoded inherent, at Kusama-plus scale: 1,000 validators, 200
// cores all occupied and made available by a bitfield from every validator,
// a backable candidate for every core (chained on its occupant), and 50
// disputes of 1,000 votes. The budget is 1% of Polkadot's 500 ms: 5 ms.
func BenchmarkRequestInherentData(b *testing.B) {
	const (
		validators = 1000
		cores      = 200
		disputes   = 50
	)
	chain := newFakeChain()
	clock := NewManualClock(t0)
	chain.sessions[1] = SessionInfo{Validators: fakeIDs(validators), Groups: groupsOf(validators, validators/cores)}
	var cs []types.CoreState
	for c := 0; c < cores; c++ {
		para := types.ParaID(2000 + c)
		cs = append(cs, occupied(para, validators, nextOnAvailable(para)))
	}
	chain.leaves[leafHash] = &leafState{
		header:  types.Header{ParentHash: olderLeaf, Number: leafNumber},
		cores:   cs,
		session: 1,
		onchain: map[DisputeKey]OnChainDispute{},
	}
	p, err := New(Config{Chain: chain, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	p.HandleSignal(ctx, ActiveLeavesUpdate{Activated: []ActivatedLeaf{{Hash: leafHash, Number: leafNumber}}})

	all := make([]byte, cores)
	for i := range all {
		all[i] = '1'
	}
	for v := 0; v < validators; v++ {
		if err := p.Provide(ctx, leafHash, bitfield(types.ValidatorIndex(v), string(all))); err != nil {
			b.Fatal(err)
		}
	}
	for c := 0; c < cores; c++ {
		s := v2(types.ParaID(2000+c), leafHash, c).at(1)
		if err := p.Provide(ctx, leafHash, makeCandidate(s)); err != nil {
			b.Fatal(err)
		}
	}
	for d := 0; d < disputes; d++ {
		set := disputeSet(1, testHash("bench dispute", d), votes(true, 0, 700), votes(false, 700, validators))
		if err := p.Provide(ctx, leafHash, set); err != nil {
			b.Fatal(err)
		}
	}
	clock.Advance(DefaultPrePropose)

	reply := make(chan InherentResponse, 1)
	request := func() InherentResponse {
		p.Request(ctx, leafHash, reply)
		return <-reply
	}
	// The first request fetches the on-chain disputes and sorts each
	// dispute's votes once; what follows is the steady state.
	first := request()
	if first.Err != nil {
		b.Fatal(first.Err)
	}
	if len(first.Data.Bitfields) != validators || len(first.Data.BackedCandidates) != cores || len(first.Data.Disputes) != disputes {
		b.Fatalf("inherent has %d bitfields, %d candidates, %d disputes",
			len(first.Data.Bitfields), len(first.Data.BackedCandidates), len(first.Data.Disputes))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(first.Encoded)))
	for b.Loop() {
		if r := request(); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}
