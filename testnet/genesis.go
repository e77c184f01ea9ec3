// Package testnet runs a local network of validator nodes over a small but
// honest simulated relay chain: collators produce candidates, backing groups
// sign them, validators sign availability bitfields, and slot authors fetch
// the parachains inherent from a node's provisioner, check it as the runtime
// would, and build blocks that every node imports.
package testnet

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/polkadot-provisioner/provisioner/types"
)

// ErrBadGenesis wraps every genesis validation failure.
var ErrBadGenesis = errors.New("bad genesis")

// Genesis describes a testnet chain. Everything a node needs to follow the
// chain is derived from it, so every node computes the same genesis hash.
type Genesis struct {
	// ValidatorURIs are Substrate secret URIs of the validators, in
	// validator-index order (//Alice, //Bob, ... then //Validator<i>).
	ValidatorURIs []string `json:"validator_uris"`
	// Validators are the public keys (derived from ValidatorURIs when empty).
	Validators []types.ValidatorID `json:"validators"`
	// GroupSize is the size of a backing group; groups are consecutive
	// validator indices and core i is served by group i mod groups.
	GroupSize int `json:"group_size"`
	// Cores is the number of availability cores.
	Cores int `json:"cores"`
	// Paras are the parachain ids; core i serves para Paras[i mod len(Paras)].
	Paras []types.ParaID `json:"paras"`
	// Session is the (only) session index.
	Session types.SessionIndex `json:"session"`
	// AvailabilityTimeout is how many blocks a candidate may wait for
	// availability before its core is freed.
	AvailabilityTimeout uint32 `json:"availability_timeout"`
	// MinBackingVotes is the runtime's minimum_backing_votes (capped by the
	// group size).
	MinBackingVotes int `json:"min_backing_votes"`
	// SlotMillis is the slot length; GenesisUnixMillis the start of slot 0.
	SlotMillis        int64 `json:"slot_ms"`
	GenesisUnixMillis int64 `json:"genesis_unix_ms"`
	// V1Descriptors makes collators emit v1 descriptors (signed by the
	// collator) instead of v2.
	V1Descriptors bool `json:"v1_descriptors"`
	// Seed drives the slot lottery (0: round robin) and collator content.
	Seed uint64 `json:"seed"`
}

// DevURI is the secret URI of validator i: the well-known dev accounts
// first, then //Validator<i>.
func DevURI(i int) string {
	dev := []string{"Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"}
	if i < len(dev) {
		return "//" + dev[i]
	}
	return fmt.Sprintf("//Validator%d", i)
}

// CollatorURI is the secret URI of a para's collator.
func CollatorURI(para types.ParaID) string { return fmt.Sprintf("//Collator%d", para) }

// NewGenesis builds a genesis of n validators, c cores and p paras (ids
// from 2000) with sensible defaults.
func NewGenesis(n, cores, paras int, slotMillis, startUnixMillis int64, seed uint64) (*Genesis, error) {
	g := &Genesis{
		GroupSize: 2, Cores: cores, Session: 1, AvailabilityTimeout: 3, MinBackingVotes: 2,
		SlotMillis: slotMillis, GenesisUnixMillis: startUnixMillis, Seed: seed,
	}
	for i := 0; i < n; i++ {
		g.ValidatorURIs = append(g.ValidatorURIs, DevURI(i))
	}
	for i := 0; i < paras; i++ {
		g.Paras = append(g.Paras, types.ParaID(2000+i))
	}
	if err := g.Complete(); err != nil {
		return nil, err
	}
	return g, nil
}

// Complete derives missing public keys and validates the genesis.
func (g *Genesis) Complete() error {
	if len(g.Validators) == 0 {
		for _, uri := range g.ValidatorURIs {
			kp, err := types.KeypairFromURI(uri)
			if err != nil {
				return fmt.Errorf("%w: validator %q: %w", ErrBadGenesis, uri, err)
			}
			g.Validators = append(g.Validators, kp.Public())
		}
	}
	switch {
	case len(g.Validators) == 0:
		return fmt.Errorf("%w: no validators", ErrBadGenesis)
	case len(g.ValidatorURIs) != 0 && len(g.ValidatorURIs) != len(g.Validators):
		return fmt.Errorf("%w: %d URIs for %d validators", ErrBadGenesis, len(g.ValidatorURIs), len(g.Validators))
	case g.GroupSize < 1 || g.GroupSize > len(g.Validators):
		return fmt.Errorf("%w: group size %d for %d validators", ErrBadGenesis, g.GroupSize, len(g.Validators))
	case g.Cores < 1 || g.Cores > 255:
		return fmt.Errorf("%w: %d cores (1..255: the core index is injected as 8 bits)", ErrBadGenesis, g.Cores)
	case len(g.Paras) == 0 || len(g.Paras) > g.Cores:
		return fmt.Errorf("%w: %d paras for %d cores (each para needs a core)", ErrBadGenesis, len(g.Paras), g.Cores)
	case g.SlotMillis < 50:
		return fmt.Errorf("%w: slot of %d ms is too short", ErrBadGenesis, g.SlotMillis)
	case g.AvailabilityTimeout < 1:
		return fmt.Errorf("%w: availability timeout must be at least one block", ErrBadGenesis)
	case g.MinBackingVotes < 1:
		return fmt.Errorf("%w: min backing votes must be at least 1", ErrBadGenesis)
	}
	return nil
}

// LoadGenesis reads a genesis (chain spec) JSON file.
func LoadGenesis(path string) (*Genesis, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read chain spec: %w", err)
	}
	var g Genesis
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadGenesis, path, err)
	}
	return &g, g.Complete()
}

// Save writes the genesis as JSON.
func (g *Genesis) Save(path string) error {
	raw, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// Groups are the backing groups: consecutive validator indices.
func (g *Genesis) Groups() [][]types.ValidatorIndex {
	n := len(g.Validators)
	count := n / g.GroupSize
	groups := make([][]types.ValidatorIndex, count)
	for i := 0; i < n; i++ {
		gi := i / g.GroupSize
		if gi >= count {
			gi = count - 1 // the remainder joins the last group
		}
		groups[gi] = append(groups[gi], types.ValidatorIndex(i))
	}
	return groups
}

// GroupForCore is the index of the group that backs core.
func (g *Genesis) GroupForCore(core types.CoreIndex) types.GroupIndex {
	return types.GroupIndex(int(core) % (len(g.Validators) / g.GroupSize))
}

// ParaForCore is the para that core serves.
func (g *Genesis) ParaForCore(core types.CoreIndex) types.ParaID {
	return g.Paras[int(core)%len(g.Paras)]
}

// MinVotes is the effective minimum of backing votes for a group.
func (g *Genesis) MinVotes(groupLen int) int { return min(g.MinBackingVotes, groupLen) }

// GenesisHeader is block 0.
func (g *Genesis) GenesisHeader() types.Header {
	raw, _ := json.Marshal(g)
	st := GenesisState(g)
	return types.Header{
		ParentHash: types.Blake2_256(raw),
		Number:     0,
		StateRoot:  st.Root(),
	}
}

// Hash names the network: the genesis block hash.
func (g *Genesis) Hash() types.Hash {
	h := g.GenesisHeader()
	return h.Hash()
}

// SlotAuthor is the validator that may author in slot: round robin, or a
// seeded lottery when Seed is non-zero.
func (g *Genesis) SlotAuthor(slot uint64) types.ValidatorIndex {
	n := uint64(len(g.Validators))
	if g.Seed == 0 {
		return types.ValidatorIndex(slot % n)
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], g.Seed)
	binary.LittleEndian.PutUint64(b[8:], slot)
	h := types.Blake2_256(b[:])
	return types.ValidatorIndex(binary.LittleEndian.Uint64(h[:8]) % n)
}
