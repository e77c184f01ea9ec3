package main

import (
	"encoding/json"
	"flag"
	"fmt"

	"github.com/polkadot-provisioner/provisioner/types"
)

func decodeUsage() string {
	return `Usage: provisioner decode [--candidate-receipt-v3] TYPE [FILE]

Reads a SCALE encoding as hex (0x optional, whitespace ignored) from FILE, or
from stdin when FILE is absent or "-", decodes it as TYPE and prints the value
as indented JSON. The value is then re-encoded; if that does not give back the
input bytes exactly, decode fails.

The JSON follows the "decoded" convention of the shared interop vectors: Rust
snake_case field names in field order, enums as {"variant","index","value"},
BitVec as {"bit_length","bytes","bits"}, byte arrays and Vec<u8> as 0x-hex,
Option as null or the value, tuples as arrays. A candidate descriptor is
printed in the layout of its detected version: v1 when any reserved byte is
non-zero, v2 otherwise.

--candidate-receipt-v3 reads descriptors as a chain with node feature
CandidateReceiptV3 (bit 4) does: v1 only when bytes 44..60 are not all zero,
otherwise version byte 0 is v2 and 1 is v3; every descriptor that is not v1
prints in the v3 layout (para_id, relay_parent, version, core_index,
session_index, scheduling_session_offset, reserved1,
persisted_validation_data_hash, pov_hash, erasure_root, scheduling_parent,
reserved2, para_head, validation_code_hash). Without it a v3 descriptor reads as v1, as it does on
a chain without the feature. The flag applies to the types that hold
candidates: ` + candidateTypes() + `.

extrinsic prints {"version": 4|5, "call_index": [pallet, call], "data": ...}.
inherent-data-map prints an object keyed by identifier ("parachn0", or 0x-hex
for a non-printable identifier): the decoded inherent data for parachn0, the
entry's hex for any other.

Types:
` + typeList(nil) + exitStatusText
}

func runDecode(e *env, args []string) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	v3 := addV3Flag(fs)
	t, file, err := typeAndFile(fs, args, nil)
	if err != nil {
		return err
	}
	if err := checkV3Flag(t, *v3); err != nil {
		return err
	}
	raw, err := readHex(e, file)
	if err != nil {
		return err
	}
	v, err := decodeExact(t, raw)
	if err != nil {
		return err
	}
	opt := types.JSONOptions{CandidateReceiptV3: *v3}
	out := types.JSONValue(v, opt)
	if t.render != nil {
		if out, err = t.render(v, opt); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("render %s as JSON: %w", t.name, err)
	}
	b = append(b, '\n')
	_, err = e.stdout.Write(b)
	return err
}

// typeAndFile parses `TYPE [FILE]` (with the flags registered on fs, and
// -h) for decode and hash; allowed restricts the types (nil allows every
// type).
func typeAndFile(fs *flag.FlagSet, args []string, allowed func(*wireType) bool) (*wireType, string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, "", err
	}
	cmd := fs.Name()
	if len(pos) == 0 {
		return nil, "", usagef("missing TYPE (one of %s)", typeNames(allowed))
	}
	if len(pos) > 2 {
		return nil, "", usagef("too many arguments: want TYPE [FILE], got %d arguments (see provisioner help %s)", len(pos), cmd)
	}
	t := lookupType(pos[0])
	if t == nil || (allowed != nil && !allowed(t)) {
		if t != nil {
			return nil, "", usagef("type %q has no hash (hashable: %s)", pos[0], typeNames(allowed))
		}
		return nil, "", usagef("unknown type %q (known: %s)", pos[0], typeNames(allowed))
	}
	file := ""
	if len(pos) == 2 {
		file = pos[1]
	}
	return t, file, nil
}
