package testnet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/polkadot-provisioner/provisioner/provisioner"
	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
	"github.com/polkadot-provisioner/provisioner/types"
)

// ErrUnknownBlock: the chain does not hold the block asked about.
var ErrUnknownBlock = errors.New("unknown block")

// keepBlocks is how many recent blocks a node keeps.
const keepBlocks = 64

type entry struct {
	header types.Header
	hash   types.Hash
	state  *State
	slot   uint64
	author types.ValidatorIndex
	// out is what the block's inherent did (nil: adopted from its body,
	// or genesis).
	out *ImportResult
}

// Chain is one node's view of the relay chain: recent blocks with their
// states, and the best block. It implements provisioner.ChainView.
type Chain struct {
	g *Genesis
	// rt is the genesis runtime consulting sigs before it verifies.
	rt   *runtime.Runtime
	keys Keys
	// sigs are the signatures the node verified already (sigcache.go).
	sigs *sigCache

	mu     sync.RWMutex
	blocks map[types.Hash]*entry
	best   *entry
	// filtered counts blocks refused because the runtime's enter would
	// have filtered their inherent (InherentDataFilteredDuringExecution).
	filtered int
}

// NewChain starts a chain at genesis.
func NewChain(g *Genesis, keys Keys) *Chain {
	h := g.GenesisHeader()
	e := &entry{header: h, hash: h.Hash(), state: g.genesisState()}
	sigs := newSigCache(sigCacheSize(g))
	return &Chain{g: g, rt: g.rt.WithSignatureCache(sigs), keys: keys, sigs: sigs, blocks: map[types.Hash]*entry{e.hash: e}, best: e}
}

// FilteredBlocks is how many blocks were refused for carrying data the
// runtime filters: an honest network has none.
func (c *Chain) FilteredBlocks() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.filtered
}

// Best returns the best block's header and state.
func (c *Chain) Best() (types.Header, *State) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.best.header, c.best.state
}

// Has reports whether the block is known.
func (c *Chain) Has(h types.Hash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.blocks[h]
	return ok
}

// Imported describes a newly imported block.
type Imported struct {
	Hash       types.Hash
	Header     types.Header
	Slot       uint64
	Author     types.ValidatorIndex
	Result     *ImportResult // nil when the block was adopted from its body's state
	BecameBest bool
	OldBest    types.Hash
	// State is the block's post-state.
	State *State
	// Candidates are the candidates the block backed (nil when adopted).
	Candidates []BackedInfo
}

// BackedInfo is a candidate a block backed.
type BackedInfo struct {
	Para              types.ParaID      `json:"para"`
	Core              types.CoreIndex   `json:"core"`
	RelayParentNumber types.BlockNumber `json:"relay_parent_number"`
	CandidateHash     string            `json:"candidate_hash"`
}

// backedInfo lists what out backed, with the relay-parent numbers the
// post-state records for them.
func backedInfo(st *State, out *ImportResult) []BackedInfo {
	if out == nil {
		return nil
	}
	var infos []BackedInfo
	for _, ev := range out.Backed {
		info := BackedInfo{Para: ev.Para, Core: ev.Core, CandidateHash: ev.Hash.String()}
		for pi := range st.Paras {
			for _, pc := range st.Paras[pi].Pending {
				if pc.Hash == ev.Hash {
					info.RelayParentNumber = pc.RelayParentNumber
				}
			}
		}
		infos = append(infos, info)
	}
	return infos
}

// Import checks and imports a block. A block whose parent is known is
// executed and must reproduce its state root; a block whose parent is
// unknown (a node catching up) is adopted when its seal and the state in its
// body check out. Importing a known block returns (nil, nil).
func (c *Chain) Import(b *Block) (*Imported, error) {
	hash := b.Header.Hash()
	c.mu.RLock()
	_, known := c.blocks[hash]
	parent := c.blocks[b.Header.ParentHash]
	c.mu.RUnlock()
	if known {
		return nil, nil
	}
	inh := &b.Body.Extrinsic.Data
	if inh.ParentHeader.Hash() != b.Header.ParentHash {
		return nil, fmt.Errorf("%w: inherent's parent header does not hash to the block's parent", ErrInvalidBlock)
	}
	if b.Header.Number != inh.ParentHeader.Number+1 {
		return nil, fmt.Errorf("%w: number %d on a parent numbered %d", ErrInvalidBlock, b.Header.Number, inh.ParentHeader.Number)
	}
	if b.Body.Extrinsic.Hash() != b.Header.ExtrinsicsRoot {
		return nil, fmt.Errorf("%w: extrinsics root mismatch", ErrInvalidBlock)
	}
	var parentSlot uint64
	if parent != nil {
		parentSlot = parent.slot
	}
	slot, author, err := CheckSeal(c.g, c.keys, &b.Header, parentSlot)
	if err != nil {
		return nil, err
	}
	var st *State
	var res *ImportResult
	if parent != nil {
		st, res, err = apply(c.rt, parent.state, &parent.header, inh)
		if err != nil {
			if errors.Is(err, runtime.ErrInherentDataFiltered) {
				c.mu.Lock()
				c.filtered++
				c.mu.Unlock()
			}
			return nil, fmt.Errorf("%w: block %d: %w", ErrInvalidBlock, b.Header.Number, err)
		}
		if st.Root() != b.Header.StateRoot {
			return nil, fmt.Errorf("%w: block %d: state root mismatch after execution", ErrInvalidBlock, b.Header.Number)
		}
	} else {
		st = &b.Body.State
		if st.Root() != b.Header.StateRoot {
			return nil, fmt.Errorf("%w: block %d: body state does not match the state root", ErrInvalidBlock, b.Header.Number)
		}
	}
	e := &entry{header: b.Header, hash: hash, state: st, slot: slot, author: author, out: res}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.blocks[hash]; dup {
		return nil, nil
	}
	c.blocks[hash] = e
	imp := &Imported{Hash: hash, Header: b.Header, Slot: slot, Author: author, Result: res, OldBest: c.best.hash,
		State: st, Candidates: backedInfo(st, res)}
	if b.Header.Number > c.best.header.Number {
		c.best = e
		imp.BecameBest = true
	}
	for h, old := range c.blocks {
		if old.header.Number+keepBlocks < c.best.header.Number {
			delete(c.blocks, h)
		}
	}
	return imp, nil
}

func (c *Chain) get(h types.Hash) (*entry, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.blocks[h]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownBlock, h)
	}
	return e, nil
}

// HeaderAndState returns a known block's header and post-state.
func (c *Chain) HeaderAndState(h types.Hash) (types.Header, *State, error) {
	e, err := c.get(h)
	if err != nil {
		return types.Header{}, nil, err
	}
	return e.header, e.state, nil
}

// Slot returns a known block's slot.
func (c *Chain) Slot(h types.Hash) (uint64, error) {
	e, err := c.get(h)
	if err != nil {
		return 0, err
	}
	return e.slot, nil
}

// The provisioner's chain view.

func (c *Chain) Header(_ context.Context, leaf types.Hash) (types.Header, error) {
	e, err := c.get(leaf)
	if err != nil {
		return types.Header{}, err
	}
	return e.header, nil
}

func (c *Chain) AvailabilityCores(_ context.Context, leaf types.Hash) ([]types.CoreState, error) {
	e, err := c.get(leaf)
	if err != nil {
		return nil, err
	}
	return c.rt.AvailabilityCores(e.state), nil
}

func (c *Chain) SessionIndexForChild(_ context.Context, leaf types.Hash) (types.SessionIndex, error) {
	e, err := c.get(leaf)
	if err != nil {
		return 0, err
	}
	return c.rt.SessionIndexForChild(e.state), nil
}

// SessionInfo answers for the sessions the best block's runtime keeps
// (the dispute period back, and the next one).
func (c *Chain) SessionInfo(_ context.Context, session types.SessionIndex) (provisioner.SessionInfo, error) {
	_, st := c.Best()
	groups, err := c.rt.SessionGroups(st, session)
	if err != nil {
		return provisioner.SessionInfo{}, fmt.Errorf("%w: %w", ErrUnknownBlock, err)
	}
	return provisioner.SessionInfo{Validators: c.g.Validators, Groups: groups}, nil
}

func (c *Chain) OnChainDisputes(_ context.Context, leaf types.Hash) (map[provisioner.DisputeKey]provisioner.OnChainDispute, error) {
	e, err := c.get(leaf)
	if err != nil {
		return nil, err
	}
	ds := c.rt.Disputes(e.state)
	out := make(map[provisioner.DisputeKey]provisioner.OnChainDispute, len(ds))
	for _, d := range ds {
		out[provisioner.DisputeKey{Session: d.Session, CandidateHash: d.Candidate}] = provisioner.OnChainDispute{
			ValidatorsFor: d.For, ValidatorsAgainst: d.Against, Start: d.Start, ConcludedAt: d.ConcludedAt,
		}
	}
	return out, nil
}

// AllowedRelayParents are the runtime's allowed relay parents for the
// leaf's child other than the leaf, each with its claim-queue snapshot.
func (c *Chain) AllowedRelayParents(_ context.Context, leaf types.Hash) ([]provisioner.RelayParent, error) {
	e, err := c.get(leaf)
	if err != nil {
		return nil, err
	}
	var out []provisioner.RelayParent
	for _, a := range c.rt.AllowedRelayParents(e.state, &e.header) {
		if a.Hash == e.hash {
			continue
		}
		cq, err := c.rt.ClaimQueueAt(e.state, &e.header, a.Hash)
		if err != nil {
			return nil, fmt.Errorf("claim queue at %s: %w", a.Hash, err)
		}
		out = append(out, provisioner.RelayParent{Hash: a.Hash, Number: a.Number, ClaimQueue: cq})
	}
	return out, nil
}
