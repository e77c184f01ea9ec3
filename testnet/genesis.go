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
	"strings"

	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
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
	// GroupSize is the size of a backing group. The runtime cuts the
	// validators into groups (consecutive indices in the first session, a
	// seeded shuffle in later ones) and rotates them over the cores.
	GroupSize int `json:"group_size"`
	// Cores is the number of availability cores.
	Cores int `json:"cores"`
	// Paras are the parachain ids; core i serves para Paras[i mod len(Paras)].
	Paras []types.ParaID `json:"paras"`
	// Session is the session of block 1 (the runtime's first session).
	Session types.SessionIndex `json:"session"`
	// Lookahead is scheduling_lookahead: the claim queue's depth and the
	// number of allowed relay parents (async backing; 1 allows only the
	// parent).
	Lookahead uint32 `json:"lookahead"`
	// GroupRotation is group_rotation_frequency in blocks.
	GroupRotation uint32 `json:"group_rotation"`
	// SessionLength in blocks (0: one session for ever); block
	// k*SessionLength starts a session.
	SessionLength uint32 `json:"session_length"`
	// AvailabilityPeriod is paras_availability_period: how long a
	// candidate may wait for availability just after a group rotation.
	AvailabilityPeriod uint32 `json:"availability_period"`
	// MinBackingVotes is the runtime's minimum_backing_votes (capped by the
	// group size).
	MinBackingVotes int `json:"min_backing_votes"`
	// SlotMillis is the slot length; GenesisUnixMillis the start of slot 0.
	SlotMillis        int64 `json:"slot_ms"`
	GenesisUnixMillis int64 `json:"genesis_unix_ms"`
	// V1Descriptors makes collators emit v1 descriptors (signed by the
	// collator) instead of v2.
	V1Descriptors bool `json:"v1_descriptors"`
	// Seed drives the slot lottery (0: round robin), collator content,
	// the relay parents collators pick and the runtime's group shuffle.
	Seed uint64 `json:"seed"`
	// InvalidCandidates are faults every node knows from the chain spec:
	// the candidate of the para built for block At is invalid, its backers
	// back it anyway, and honest validators dispute it.
	InvalidCandidates []ParaAt `json:"invalid_candidates,omitempty"`
	// Equivocations: validator Node also votes valid on the invalid
	// candidates disputed from block At on (it votes both ways).
	Equivocations []NodeAt `json:"equivocations,omitempty"`

	rt *runtime.Runtime // built by Complete
}

// ParaAt names a para's candidate built for a block.
type ParaAt struct {
	Para  types.ParaID      `json:"para"`
	Block types.BlockNumber `json:"block"`
}

// NodeAt names a validator from a block on.
type NodeAt struct {
	Node  int               `json:"node"`
	Block types.BlockNumber `json:"block"`
}

// Defaults of the runtime parameters a genesis carries.
const (
	DefaultLookahead          = runtime.DefaultLookahead
	DefaultGroupRotation      = 5
	DefaultSessionLength      = 10
	DefaultAvailabilityPeriod = 3
)

// DevURI is the secret URI of validator i: the well-known dev accounts
// first, then //Validator<i>.
func DevURI(i int) string {
	dev := []string{"Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"}
	if i < len(dev) {
		return "//" + dev[i]
	}
	return fmt.Sprintf("//Validator%d", i)
}

// devSeed is the mini secret of Substrate's development phrase ("bottom
// drive obey lake curtain smoke basket hold race lonely fit walk"), the
// phrase every //Name URI derives from. Turning the phrase into it is
// PBKDF2, about 6 ms a key: a 1,000-validator genesis would spend 6 s on
// it, and every node its share again. Dev URIs derive from the seed
// instead (Substrate's 0x<seed>//junction form of the same key);
// TestDevSeed checks it against the phrase.
const devSeed = "0xfac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e"

// keypairFromURI is types.KeypairFromURI, without the phrase's PBKDF2 for
// dev URIs: hard junctions on the development phrase, without password.
func keypairFromURI(uri string) (*types.Keypair, error) {
	if strings.HasPrefix(uri, "//") && !strings.Contains(uri, "///") {
		return types.KeypairFromURI(devSeed + uri)
	}
	return types.KeypairFromURI(uri)
}

// CollatorURI is the secret URI of a para's collator.
func CollatorURI(para types.ParaID) string { return fmt.Sprintf("//Collator%d", para) }

// NewGenesis builds a genesis of n validators, c cores and p paras (ids
// from 2000) with sensible defaults.
func NewGenesis(n, cores, paras int, slotMillis, startUnixMillis int64, seed uint64) (*Genesis, error) {
	g := &Genesis{
		GroupSize: 2, Cores: cores, Session: 1, MinBackingVotes: 2,
		Lookahead: DefaultLookahead, GroupRotation: DefaultGroupRotation, SessionLength: DefaultSessionLength,
		AvailabilityPeriod: DefaultAvailabilityPeriod,
		SlotMillis:         slotMillis, GenesisUnixMillis: startUnixMillis, Seed: seed,
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

// Complete derives missing public keys, validates the genesis and builds
// its runtime; call it again after changing a field.
func (g *Genesis) Complete() error {
	if len(g.Validators) == 0 {
		for _, uri := range g.ValidatorURIs {
			kp, err := keypairFromURI(uri)
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
	case g.AvailabilityPeriod < 1:
		return fmt.Errorf("%w: availability period must be at least one block", ErrBadGenesis)
	case g.MinBackingVotes < 1:
		return fmt.Errorf("%w: min backing votes must be at least 1", ErrBadGenesis)
	case g.Lookahead < 1:
		return fmt.Errorf("%w: lookahead must be at least 1", ErrBadGenesis)
	case g.GroupRotation < 1:
		return fmt.Errorf("%w: group rotation must be at least one block", ErrBadGenesis)
	}
	rt, err := runtime.New(g.runtimeConfig())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadGenesis, err)
	}
	g.rt = rt
	return nil
}

// runtimeConfig maps the genesis onto the runtime's configuration: bulk
// coretime with core i serving Paras[i mod len(Paras)].
func (g *Genesis) runtimeConfig() runtime.Config {
	cfg := runtime.Config{
		Validators: g.Validators, Cores: g.Cores, GroupSize: g.GroupSize,
		Lookahead: g.Lookahead, GroupRotationFrequency: g.GroupRotation, ParasAvailabilityPeriod: g.AvailabilityPeriod,
		SessionLength: g.SessionLength, FirstSession: g.Session, MinimumBackingVotes: g.MinBackingVotes, Seed: g.Seed,
	}
	for _, p := range g.Paras {
		cfg.Paras = append(cfg.Paras, runtime.ParaGenesis{ID: p, Head: GenesisHead(p), CodeHash: GenesisCodeHash(p)})
	}
	return cfg
}

// Runtime is the chain's runtime (Complete builds it).
func (g *Genesis) Runtime() *runtime.Runtime { return g.rt }

// genesisState is the runtime state of block 0; an incomplete genesis
// (Complete not called, or refused) has an empty one, so that naming it
// never fails.
func (g *Genesis) genesisState() *State {
	if g.rt == nil {
		return &State{}
	}
	return g.rt.Genesis()
}

// GenesisHead is a para's head data at genesis.
func GenesisHead(p types.ParaID) []byte {
	h := types.Blake2_256([]byte(fmt.Sprintf("genesis head %d", p)))
	return h[:]
}

// GenesisCodeHash is a para's validation code hash at genesis.
func GenesisCodeHash(p types.ParaID) types.Hash {
	return types.Blake2_256([]byte(fmt.Sprintf("code:%d:0", p)))
}

// InvalidAt reports whether the para's candidate built for block n is one
// of the genesis' invalid candidates.
func (g *Genesis) InvalidAt(para types.ParaID, n types.BlockNumber) bool {
	for _, f := range g.InvalidCandidates {
		if f.Para == para && f.Block == n {
			return true
		}
	}
	return false
}

// Equivocates reports whether validator v votes both ways in disputes
// raised at block n.
func (g *Genesis) Equivocates(v types.ValidatorIndex, n types.BlockNumber) bool {
	for _, e := range g.Equivocations {
		if e.Node == int(v) && n >= e.Block {
			return true
		}
	}
	return false
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

// MinVotes is the effective minimum of backing votes for a group.
func (g *Genesis) MinVotes(groupLen int) int { return min(g.MinBackingVotes, groupLen) }

// GenesisHeader is block 0.
func (g *Genesis) GenesisHeader() types.Header {
	raw, _ := json.Marshal(g)
	return types.Header{
		ParentHash: types.Blake2_256(raw),
		Number:     0,
		StateRoot:  g.genesisState().Root(),
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
