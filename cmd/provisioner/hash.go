package main

import (
	"flag"
	"fmt"
)

func hashable(t *wireType) bool { return t.hash != nil }

func hashUsage() string {
	return `Usage: provisioner hash [--candidate-receipt-v3] TYPE [FILE]

Reads a SCALE encoding as hex (0x optional, whitespace ignored) from FILE, or
from stdin when FILE is absent or "-", decodes it as TYPE (the re-encoding
must equal the input) and prints its blake2-256 hash as 0x-hex.

--candidate-receipt-v3 (node feature CandidateReceiptV3 on) is accepted for
the types that hold candidates, as decode takes it; the hash is of the bytes,
which are the same in every descriptor version, so it does not change.

Types:
` + typeList(func(t *wireType) string {
		if t.hash == nil {
			return ""
		}
		return t.hashAbout
	}) + exitStatusText
}

func runHash(e *env, args []string) error {
	fs := flag.NewFlagSet("hash", flag.ContinueOnError)
	v3 := addV3Flag(fs)
	t, file, err := typeAndFile(fs, args, hashable)
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
	_, err = fmt.Fprintln(e.stdout, t.hash(v).String())
	return err
}
