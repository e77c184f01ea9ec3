package testnet

import (
	"errors"
	"fmt"

	"github.com/polkadot-provisioner/provisioner/testnet/runtime"
	"github.com/polkadot-provisioner/provisioner/types"
)

// ErrInvalidInherent wraps every reason the runtime refuses a block's
// parachains inherent.
var ErrInvalidInherent = errors.New("invalid parachains inherent")

// State is the runtime storage after a block (testnet/runtime): blocks
// carry it in their body and hash it into their state root.
type State = runtime.State

// ImportResult says what a block did: the runtime's outcome of its
// parachains inherent.
type ImportResult = runtime.Outcome

// Apply runs the parachains inherent of the block built on parentHeader as
// the runtime's enter does: an inherent that create_inherent would have
// changed (ErrInherentDataFiltered) or that fails the runtime
// (ErrInvalidBacking, ...) is refused, wrapped in ErrInvalidInherent.
func Apply(g *Genesis, parent *State, parentHeader *types.Header, inh *types.InherentData) (*State, *ImportResult, error) {
	return apply(g.rt, parent, parentHeader, inh)
}

// apply is Apply with the runtime rt (a node's, with its signature cache).
func apply(rt *runtime.Runtime, parent *State, parentHeader *types.Header, inh *types.InherentData) (*State, *ImportResult, error) {
	st, out, err := rt.Enter(parent, parentHeader, inh)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidInherent, err)
	}
	return st, out, nil
}

// Sanitize is the block builder's side (create_inherent): the inherent
// the runtime keeps of inh, the state it leads to, and what it did; the
// outcome's Filtered counts what was dropped, by reason. An error means no
// block can carry inh's candidates (a bad backing signature that passed
// sanitizing): the builder falls back to the empty inherent.
func Sanitize(g *Genesis, parent *State, parentHeader *types.Header, inh *types.InherentData) (*types.InherentData, *State, *ImportResult, error) {
	return sanitize(g.rt, parent, parentHeader, inh)
}

// sanitize is Sanitize with the runtime rt (a node's, with its signature
// cache).
func sanitize(rt *runtime.Runtime, parent *State, parentHeader *types.Header, inh *types.InherentData) (*types.InherentData, *State, *ImportResult, error) {
	kept, st, out, err := rt.CreateInherent(parent, parentHeader, inh)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrInvalidInherent, err)
	}
	return kept, st, out, nil
}

// Keys resolves validator indices to parsed public keys (block seals).
type Keys []*types.PublicKey

// NewKeys parses the genesis validator keys once.
func NewKeys(g *Genesis) (Keys, error) {
	ks := make(Keys, len(g.Validators))
	for i, v := range g.Validators {
		k, err := types.ParsePublicKey(v)
		if err != nil {
			return nil, fmt.Errorf("%w: validator %d: %w", ErrBadGenesis, i, err)
		}
		ks[i] = k
	}
	return ks, nil
}
