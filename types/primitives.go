// Package types holds the Polkadot primitives that the parachains inherent
// and its gossip carry, with their SCALE encodings (field order and enum
// indices exactly Polkadot's), signing payloads and hashes.
package types

import (
	"encoding/hex"

	"golang.org/x/crypto/blake2b"
)

// Hash is a 32-byte blake2-256 hash (H256).
type Hash [32]byte

func (h Hash) String() string { return "0x" + hex.EncodeToString(h[:]) }

// IsZero reports whether every byte is zero.
func (h Hash) IsZero() bool { return h == Hash{} }

// Blake2_256 hashes b.
func Blake2_256(b []byte) Hash { return blake2b.Sum256(b) }

type (
	BlockNumber    = uint32
	SessionIndex   = uint32
	ParaID         = uint32
	ValidatorIndex = uint32
	CoreIndex      = uint32
	GroupIndex     = uint32
)

// ValidatorID is a validator's sr25519 public key.
type ValidatorID [32]byte

// CollatorID is a collator's sr25519 public key.
type CollatorID [32]byte

// ValidatorSignature is an sr25519 signature by a validator.
type ValidatorSignature [64]byte

// CollatorSignature is an sr25519 signature by a collator.
type CollatorSignature [64]byte

func (v ValidatorID) String() string { return "0x" + hex.EncodeToString(v[:]) }
