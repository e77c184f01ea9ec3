package main

import (
	"flag"
	"fmt"
)

func hashable(t *wireType) bool { return t.hash != nil }

func hashUsage() string {
	return `Usage: provisioner hash TYPE [FILE]

Reads a SCALE encoding as hex (0x optional, whitespace ignored) from FILE, or
from stdin when FILE is absent or "-", decodes it as TYPE (the re-encoding
must equal the input) and prints its blake2-256 hash as 0x-hex.

Types:
` + typeList(func(t *wireType) string {
		if t.hash == nil {
			return ""
		}
		return t.hashAbout
	}) + exitStatusText
}

func runHash(e *env, args []string) error {
	t, file, err := typeAndFile(flag.NewFlagSet("hash", flag.ContinueOnError), args, hashable)
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
	_, err = fmt.Fprintln(e.stdout, t.hash(v).String())
	return err
}
