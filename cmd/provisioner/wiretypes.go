package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// wireValue is a value with a SCALE encoding that decodes untrusted bytes.
type wireValue interface {
	types.Encoder
	types.Decoder
}

// wireType is one TYPE accepted by decode and hash.
type wireType struct {
	name  string
	about string
	new   func() wireValue
	// render gives the value to print as JSON; nil prints
	// types.JSONValue(v, o) (the shared interop `decoded` convention).
	render func(v wireValue, o types.JSONOptions) (any, error)
	// candidates: the type holds candidate descriptors, whose reading
	// depends on the CandidateReceiptV3 node feature
	// (--candidate-receipt-v3).
	candidates bool
	// hash is nil for types without a hash; hashAbout says which hash it is.
	hash      func(v wireValue) types.Hash
	hashAbout string
}

// wireTypes lists every TYPE in the order the help text shows them.
var wireTypes = []wireType{
	{
		name: "inherent-data", about: "parachains inherent (polkadot_primitives InherentData)",
		new:        func() wireValue { return new(types.InherentData) },
		candidates: true,
	},
	{
		name: "signed-bitfield", about: "UncheckedSigned<AvailabilityBitfield>",
		new: func() wireValue { return new(types.UncheckedSignedAvailabilityBitfield) },
	},
	{
		name: "backed-candidate", about: "BackedCandidate (core index injected or not)",
		new:        func() wireValue { return new(types.BackedCandidate) },
		hash:       func(v wireValue) types.Hash { return v.(*types.BackedCandidate).Hash() },
		hashAbout:  "candidate hash",
		candidates: true,
	},
	{
		name: "candidate-receipt", about: "CandidateReceipt (v1, v2 or v3 descriptor)",
		new:        func() wireValue { return new(types.CandidateReceipt) },
		hash:       func(v wireValue) types.Hash { return v.(*types.CandidateReceipt).Hash() },
		hashAbout:  "candidate hash",
		candidates: true,
	},
	{
		name: "committed-candidate-receipt", about: "CommittedCandidateReceipt (v1, v2 or v3 descriptor)",
		new:        func() wireValue { return new(types.CommittedCandidateReceipt) },
		hash:       func(v wireValue) types.Hash { return v.(*types.CommittedCandidateReceipt).Hash() },
		hashAbout:  "candidate hash",
		candidates: true,
	},
	{
		name: "candidate-commitments", about: "CandidateCommitments",
		new:       func() wireValue { return new(types.CandidateCommitments) },
		hash:      func(v wireValue) types.Hash { return v.(*types.CandidateCommitments).Hash() },
		hashAbout: "commitments hash",
	},
	{
		name: "dispute-statement-set", about: "DisputeStatementSet",
		new: func() wireValue { return new(types.DisputeStatementSet) },
	},
	{
		name: "header", about: "relay-chain block header",
		new:       func() wireValue { return new(types.Header) },
		hash:      func(v wireValue) types.Hash { return v.(*types.Header).Hash() },
		hashAbout: "block hash",
	},
	{
		name: "extrinsic", about: "paraInherent.enter extrinsic (v4 0x04 or v5 bare 0x05)",
		new:        func() wireValue { return new(types.ParaInherentExtrinsic) },
		render:     renderExtrinsic,
		hash:       func(v wireValue) types.Hash { return v.(*types.ParaInherentExtrinsic).Hash() },
		hashAbout:  "extrinsic hash",
		candidates: true,
	},
	{
		name: "inherent-data-map", about: "sp_inherents InherentData map (parachn0 decoded)",
		new:        func() wireValue { return new(types.InherentDataMap) },
		render:     renderInherentDataMap,
		candidates: true,
	},
}

func lookupType(name string) *wireType {
	for i := range wireTypes {
		if wireTypes[i].name == name {
			return &wireTypes[i]
		}
	}
	return nil
}

// typeNames lists the names of the types that keep accepts (every type
// when keep is nil).
func typeNames(keep func(*wireType) bool) string {
	var names []string
	for i := range wireTypes {
		if keep == nil || keep(&wireTypes[i]) {
			names = append(names, wireTypes[i].name)
		}
	}
	return strings.Join(names, ", ")
}

// candidateTypes names the types --candidate-receipt-v3 applies to.
func candidateTypes() string {
	return typeNames(func(t *wireType) bool { return t.candidates })
}

// typeList is the help text's table of types, one per line.
func typeList(describe func(*wireType) string) string {
	if describe == nil {
		describe = func(t *wireType) string { return t.about }
	}
	var b strings.Builder
	for i := range wireTypes {
		if d := describe(&wireTypes[i]); d != "" {
			fmt.Fprintf(&b, "  %-28s %s\n", wireTypes[i].name, d)
		}
	}
	return b.String()
}

// decodeExact decodes raw as t and insists that encoding the value gives raw
// back: the codec accepts only canonical encodings, and this check makes
// sure of it for everything the tool prints, hashes or verifies.
func decodeExact(t *wireType, raw []byte) (wireValue, error) {
	v := t.new()
	if err := types.Decode(raw, v); err != nil {
		return nil, err
	}
	if err := sameBytes(t.name, types.Encode(v), raw); err != nil {
		return nil, err
	}
	return v, nil
}

// sameBytes fails, naming the first differing byte, when the re-encoding
// of a value differs from the bytes it was decoded from.
func sameBytes(what string, re, raw []byte) error {
	if bytes.Equal(re, raw) {
		return nil
	}
	i := 0
	for i < len(re) && i < len(raw) && re[i] == raw[i] {
		i++
	}
	return fmt.Errorf("%s: re-encoding differs from the input at offset %d (input %d bytes, re-encoding %d bytes)", what, i, len(raw), len(re))
}

func renderExtrinsic(v wireValue, opt types.JSONOptions) (any, error) {
	x := v.(*types.ParaInherentExtrinsic)
	o := &types.OrderedObject{}
	o.Add("version", x.Version)
	// []uint8 would marshal as base64; the convention wants a tuple of numbers.
	o.Add("call_index", [2]int{int(x.PalletIndex), int(x.CallIndex)})
	o.Add("data", types.JSONValue(&x.Data, opt))
	return o, nil
}

// renderInherentDataMap prints the map keyed by identifier. Identifiers are
// 8 ASCII bytes by convention ("parachn0", "timstap0"); one that is not
// printable is keyed by its 0x-hex instead, which cannot collide with a
// printable one (18 characters against 8).
func renderInherentDataMap(v wireValue, opt types.JSONOptions) (any, error) {
	m := v.(*types.InherentDataMap)
	o := &types.OrderedObject{}
	for _, e := range m.Entries {
		key := string(e.Identifier[:])
		if !printableASCII(e.Identifier[:]) {
			key = "0x" + hex.EncodeToString(e.Identifier[:])
		}
		if e.Identifier != types.ParachainsInherentIdentifier {
			o.Add(key, "0x"+hex.EncodeToString(e.Data))
			continue
		}
		// The entry is a second, nested encoding: hold it to the same
		// exact-round-trip rule as the outer value.
		d := new(types.InherentData)
		if err := types.DecodeWithLimits(e.Data, d, codec.DefaultLimits); err != nil {
			return nil, fmt.Errorf("parachn0 entry: %w", err)
		}
		if err := sameBytes("parachn0 entry", types.Encode(d), e.Data); err != nil {
			return nil, err
		}
		o.Add(key, types.JSONValue(d, opt))
	}
	return o, nil
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
