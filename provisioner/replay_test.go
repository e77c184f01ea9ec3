package provisioner

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// The replay tests rebuild, from each of the 16 real relay-chain blocks in
// the interop vectors, the chain state its author saw, feed the block's own
// bitfields and backed candidates to a provisioner, and require the
// provisioner's inherent to be byte for byte the one the block carries. Since
// 2026 the runtime's enter refuses an inherent that create_inherent would
// have changed, so matching the runtime's order on real data is what makes a
// block acceptable.

const realVectorDir = "../types/testdata/interop/real"

// realBlock is the part of a real vector the replay reads.
type realBlock struct {
	Chain       string `json:"chain"`
	BlockNumber uint64 `json:"block_number"`
	Hex         string `json:"hex"`
	Summary     struct {
		ParentHeaderHash string `json:"parent_header_hash"`
	} `json:"summary"`
}

func loadRealBlocks(t *testing.T) map[string]*types.InherentData {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(realVectorDir, "*-para-inherent.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*types.InherentData, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rb realBlock
		if err := json.Unmarshal(raw, &rb); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		b, err := hex.DecodeString(strings.TrimPrefix(rb.Hex, "0x"))
		if err != nil {
			t.Fatalf("%s: hex: %v", f, err)
		}
		d := new(types.InherentData)
		if err := types.Decode(b, d); err != nil {
			t.Fatalf("%s: decode: %v", f, err)
		}
		if h := rb.Summary.ParentHeaderHash; h != "" && h != d.ParentHeader.Hash().String() {
			t.Fatalf("%s: parent header hashes to %s, summary says %s", f, d.ParentHeader.Hash(), h)
		}
		out[fmt.Sprintf("%s-%d", rb.Chain, rb.BlockNumber)] = d
	}
	return out
}

// replayView is the chain state a block's author saw, rebuilt from what the
// block carries: the leaf is the block's parent; the cores, the session's
// validators and groups are made consistent with the bitfields and the
// candidates (see buildReplayView).
type replayView struct {
	leaf     ActivatedLeaf
	header   types.Header
	cores    []types.CoreState
	session  types.SessionIndex
	info     SessionInfo
	allowed  []RelayParent
	needsGP  int // candidates anchored to the grandparent
	injected int // candidates whose core is injected into validator_indices
	coreOf   map[types.ParaID]int
}

// replayCore is the core a real candidate went on: its V2 descriptor's
// core, else its injected core index (real blocks with injection use 8 extra
// bits, and no group has 8 or more members), else -1 (a V1 candidate of a
// runtime before core injection: any core of its para).
func replayCore(bc *types.BackedCandidate) (core int, injected bool) {
	if c, ok := bc.Candidate.Descriptor.CoreIndex(); ok {
		return int(c), bc.ValidatorIndices.Len > 8
	}
	if bc.ValidatorIndices.Len > 8 {
		_, c, _ := types.ExtractCoreIndex(bc.ValidatorIndices)
		return int(c), true
	}
	return -1, false
}

// buildReplayView derives the leaf's chain state from the block.
//
//   - Leaf: the parent header; its hash is the relay parent, its number the
//     leaf number. The grandparent (the header's parent_hash, one lower) is
//     an allowed relay parent: async backing lets candidates anchor there.
//   - Validators: one per bitfield index up to the highest; the keys are
//     placeholders, since the replay feeds already-checked data (signature
//     checks belong to the network layer) and no key is ever used.
//   - Groups: one per group size seen in the candidates' validator_indices
//     (minus the 8 injected bits), then groups of the smallest size; the
//     provisioner reads only the sizes, to tell injected bits apart.
//   - Cores: as many as the bitfields have bits. A core a candidate goes on
//     (descriptor or injected core) is Scheduled for its para, or, when the
//     bitfields mark it occupied, Occupied with the para next up on
//     availability and an on-chain availability record that already has
//     every chunk (the block did free it). Candidates without a core take,
//     in ascending para id, the lowest core nothing else uses (before core
//     injection the scheduler handed cores to paras in ascending para id,
//     which is also how those runtimes ordered candidates). Every other core
//     the bitfields mark is Occupied with nothing next and no chunks on
//     chain; the rest are Free.
func buildReplayView(t *testing.T, d *types.InherentData) replayView {
	t.Helper()
	v := replayView{header: d.ParentHeader, session: 1}
	v.leaf = ActivatedLeaf{Hash: d.ParentHeader.Hash(), Number: d.ParentHeader.Number}
	if len(d.Bitfields) == 0 {
		t.Fatal("block without bitfields: the core count is unknown")
	}
	nCores := d.Bitfields[0].Payload.Len
	n := 0
	occupiedBits := make([]bool, nCores)
	for i := range d.Bitfields {
		bf := &d.Bitfields[i]
		if bf.Payload.Len != nCores {
			t.Fatalf("bitfield %d has %d bits, others %d", i, bf.Payload.Len, nCores)
		}
		n = max(n, int(bf.ValidatorIndex)+1)
		for c := range nCores {
			occupiedBits[c] = occupiedBits[c] || bf.Payload.Get(c)
		}
	}

	sizes := map[int]bool{}
	bound := map[int]types.ParaID{}
	var unbound []types.ParaID
	for i := range d.BackedCandidates {
		bc := &d.BackedCandidates[i]
		para := bc.Candidate.Descriptor.ParaID
		if bc.Candidate.Descriptor.RelayParent == d.ParentHeader.ParentHash {
			v.needsGP++
		}
		if s, ok := bc.Candidate.Descriptor.SessionIndex(); ok {
			v.session = s
		}
		core, injected := replayCore(bc)
		size := bc.ValidatorIndices.Len
		if injected {
			size -= 8
			v.injected++
		}
		sizes[size] = true
		if core < 0 {
			unbound = append(unbound, para)
			continue
		}
		if core >= nCores {
			t.Fatalf("candidate %d (para %d) on core %d of %d", i, para, core, nCores)
		}
		if other, dup := bound[core]; dup {
			t.Fatalf("paras %d and %d both on core %d", other, para, core)
		}
		bound[core] = para
	}
	slices.Sort(unbound)
	// lowest is the lowest core nothing is bound to that ok accepts, or -1.
	lowest := func(ok func(int) bool) int {
		for c := range nCores {
			if _, taken := bound[c]; !taken && ok(c) {
				return c
			}
		}
		return -1
	}
	for _, para := range unbound {
		c := lowest(func(c int) bool { return !occupiedBits[c] })
		if c < 0 {
			// Every unmarked core is taken: a marked one that this block
			// frees will do.
			c = lowest(func(int) bool { return true })
		}
		if c < 0 {
			t.Fatalf("no core left for para %d", para)
		}
		bound[c] = para
	}

	v.coreOf = make(map[types.ParaID]int, len(bound))
	v.cores = make([]types.CoreState, nCores)
	for c := range nCores {
		para, has := bound[c]
		if has {
			v.coreOf[para] = c
		}
		switch {
		case has && !occupiedBits[c]:
			v.cores[c] = scheduled(para)
		case has:
			v.cores[c] = occupied(para, n, nextOnAvailable(para), allAvailable(), timeOutAt(v.leaf.Number+1000))
		case occupiedBits[c]:
			v.cores[c] = occupied(types.ParaID(100000+c), n, timeOutAt(v.leaf.Number+1000))
		default:
			v.cores[c] = freeCore()
		}
	}

	v.info.Validators = fakeIDs(n)
	sorted := make([]int, 0, len(sizes))
	for s := range sizes {
		sorted = append(sorted, s)
	}
	slices.Sort(sorted)
	next := 0
	group := func(size int) {
		var g []types.ValidatorIndex
		for range size {
			if next < n {
				g = append(g, types.ValidatorIndex(next))
				next++
			}
		}
		v.info.Groups = append(v.info.Groups, g)
	}
	for _, s := range sorted {
		group(s)
	}
	for len(sorted) > 0 && next+sorted[0] <= n {
		group(sorted[0])
	}

	v.allowed = []RelayParent{{Hash: d.ParentHeader.ParentHash, Number: v.leaf.Number - 1}}
	return v
}

// replay runs a provisioner over the view: activate the leaf, feed the
// bitfields and candidates in reverse block order (so that nothing of the
// output order can come from the input order), ask for the inherent before
// PRE_PROPOSE, then move the clock past it.
func replay(t *testing.T, v replayView, d *types.InherentData) InherentResponse {
	t.Helper()
	h := newHarness(t, Config{})
	h.chain.mu.Lock()
	h.chain.sessions[v.session] = v.info
	h.chain.leaves[v.leaf.Hash] = &leafState{
		header: v.header, cores: v.cores, session: v.session, allowed: v.allowed,
		onchain: map[DisputeKey]OnChainDispute{},
	}
	h.chain.mu.Unlock()
	h.activate(v.leaf)
	for i := len(d.Bitfields) - 1; i >= 0; i-- {
		if err := h.provide(v.leaf.Hash, &SignedBitfield{Bitfield: d.Bitfields[i]}); err != nil {
			t.Fatalf("bitfield of validator %d: %v", d.Bitfields[i].ValidatorIndex, err)
		}
	}
	for i := len(d.BackedCandidates) - 1; i >= 0; i-- {
		if err := h.provide(v.leaf.Hash, &BackedCandidate{Candidate: d.BackedCandidates[i]}); err != nil {
			t.Fatalf("candidate %d (para %d): %v", i, d.BackedCandidates[i].Candidate.Descriptor.ParaID, err)
		}
	}
	reply := h.request(v.leaf.Hash)
	h.p.Tick(h.ctx)
	if !pending(reply) {
		t.Fatal("answered before PRE_PROPOSE")
	}
	h.clock.Advance(DefaultPrePropose)
	h.p.Tick(h.ctx)
	resp := <-reply
	if resp.Err != nil {
		t.Fatalf("inherent: %v", resp.Err)
	}
	checkEncoding(t, resp)
	return resp
}

// TestReplayRealBlocks replays every real block and requires the exact
// bytes of its inherent. All 16 blocks list their backed candidates in
// ascending para id (one candidate per para), bitfields in ascending
// validator index, and carry no disputes, so the runtime's order and the
// provisioner's agree on every one of them.
func TestReplayRealBlocks(t *testing.T) {
	blocks := loadRealBlocks(t)
	want := []struct {
		block       string
		bitfields   int
		candidates  int
		grandparent int // candidates anchored to the grandparent
		injected    int // candidates with an injected core index
		// coreOrder is how many positions of the block's candidate list
		// hold another candidate when the list is sorted by core instead:
		// what the provisioner got wrong before it followed the runtime.
		coreOrder int
	}{
		{"kusama-14255072", 177, 19, 0, 0, 0},
		{"kusama-22939322", 297, 6, 0, 6, 0},
		{"polkadot-10000000", 199, 5, 0, 0, 0},
		{"polkadot-10000001", 200, 5, 0, 0, 0},
		{"polkadot-10000006", 200, 8, 0, 0, 0},
		{"polkadot-11852237", 196, 11, 0, 0, 0},
		{"polkadot-18207445", 294, 26, 0, 0, 0},
		{"polkadot-18468942", 297, 32, 0, 0, 0},
		{"polkadot-19772575", 297, 28, 0, 0, 0},
		{"polkadot-20000006", 296, 14, 0, 0, 0},
		{"polkadot-21157800", 296, 33, 1, 0, 0},
		{"polkadot-21275366", 296, 25, 1, 0, 0},
		{"polkadot-22887036", 399, 24, 7, 24, 24},
		{"polkadot-28490503", 596, 28, 16, 28, 24},
		{"westend-6200000", 7, 2, 0, 0, 0},
		{"westend-8000000", 16, 1, 0, 0, 0},
	}
	if len(blocks) != len(want) {
		t.Fatalf("%d real blocks, want %d", len(blocks), len(want))
	}
	for _, w := range want {
		t.Run(w.block, func(t *testing.T) {
			d, ok := blocks[w.block]
			if !ok {
				t.Fatalf("no vector for %s", w.block)
			}
			v := buildReplayView(t, d)
			if v.needsGP != w.grandparent || v.injected != w.injected {
				t.Fatalf("grandparent-anchored %d, injected %d; want %d, %d", v.needsGP, v.injected, w.grandparent, w.injected)
			}
			if got := coreOrderMoves(v, d); got != w.coreOrder {
				t.Fatalf("core order moves %d candidates, want %d", got, w.coreOrder)
			}
			resp := replay(t, v, d)
			got := resp.Data
			if len(got.Bitfields) != w.bitfields || len(got.BackedCandidates) != w.candidates || len(got.Disputes) != 0 {
				t.Fatalf("selected %d bitfields, %d candidates, %d disputes; want %d, %d, 0",
					len(got.Bitfields), len(got.BackedCandidates), len(got.Disputes), w.bitfields, w.candidates)
			}
			wantBytes := types.Encode(d)
			if string(resp.Encoded) != string(wantBytes) {
				t.Fatalf("inherent differs from the block's: %s", firstDifference(got, d))
			}
		})
	}
}

// coreOrderMoves counts the positions of the block's candidate list that a
// sort by core would change.
func coreOrderMoves(v replayView, d *types.InherentData) int {
	byCore := slices.Clone(d.BackedCandidates)
	slices.SortStableFunc(byCore, func(a, b types.BackedCandidate) int {
		return v.coreOf[a.Candidate.Descriptor.ParaID] - v.coreOf[b.Candidate.Descriptor.ParaID]
	})
	moved := 0
	for i := range byCore {
		if byCore[i].Candidate.Descriptor.ParaID != d.BackedCandidates[i].Candidate.Descriptor.ParaID {
			moved++
		}
	}
	return moved
}

// firstDifference names the first field where two inherents differ.
func firstDifference(got, want *types.InherentData) string {
	for i := range min(len(got.Bitfields), len(want.Bitfields)) {
		if string(types.Encode(&got.Bitfields[i])) != string(types.Encode(&want.Bitfields[i])) {
			return fmt.Sprintf("bitfield %d: validator %d, want %d", i, got.Bitfields[i].ValidatorIndex, want.Bitfields[i].ValidatorIndex)
		}
	}
	if len(got.Bitfields) != len(want.Bitfields) {
		return fmt.Sprintf("%d bitfields, want %d", len(got.Bitfields), len(want.Bitfields))
	}
	for i := range min(len(got.BackedCandidates), len(want.BackedCandidates)) {
		g, w := &got.BackedCandidates[i], &want.BackedCandidates[i]
		if string(types.Encode(g)) != string(types.Encode(w)) {
			return fmt.Sprintf("candidate %d: para %d, want para %d", i, g.Candidate.Descriptor.ParaID, w.Candidate.Descriptor.ParaID)
		}
	}
	if len(got.BackedCandidates) != len(want.BackedCandidates) {
		return fmt.Sprintf("%d candidates, want %d", len(got.BackedCandidates), len(want.BackedCandidates))
	}
	return "disputes or parent header"
}
