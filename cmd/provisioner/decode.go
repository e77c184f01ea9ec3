package main

import (
	"encoding/json"
	"flag"
	"fmt"
)

func decodeUsage() string {
	return `Usage: provisioner decode TYPE [FILE]

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

extrinsic prints {"version": 4|5, "call_index": [pallet, call], "data": ...}.
inherent-data-map prints an object keyed by identifier ("parachn0", or 0x-hex
for a non-printable identifier): the decoded inherent data for parachn0, the
entry's hex for any other.

Types:
` + typeList(nil) + exitStatusText
}

func runDecode(e *env, args []string) error {
	t, file, err := typeAndFile(flag.NewFlagSet("decode", flag.ContinueOnError), args, nil)
	if err != nil {
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
	var out any = v
	if t.render != nil {
		if out, err = t.render(v); err != nil {
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

// typeAndFile parses `TYPE [FILE]` (with no flags but -h) for decode and
// hash; allowed restricts the types (nil allows every type).
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
