package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// maxHexInput caps what is read from a file or stdin: twice the hex of the
// largest message the codec accepts, leaving room for whitespace. A larger
// input could never decode, so it is refused before it fills memory.
var maxHexInput = 4 * int64(codec.DefaultLimits.MaxMessageSize)

// readInput returns the contents of file, or of stdin when file is "" or "-".
func readInput(e *env, file string) ([]byte, error) {
	src, name := e.stdin, "stdin"
	if file != "" && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err // *PathError names the file and the reason
		}
		defer f.Close()
		src, name = f, file
	}
	b, err := io.ReadAll(io.LimitReader(src, maxHexInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(b)) > maxHexInput {
		return nil, fmt.Errorf("%s: input larger than %d bytes", name, maxHexInput)
	}
	return b, nil
}

// readHex reads hex from file or stdin: an optional 0x prefix, whitespace
// anywhere ignored (so wrapped or pasted hex works).
func readHex(e *env, file string) ([]byte, error) {
	text, err := readInput(e, file)
	if err != nil {
		return nil, err
	}
	return parseHex(text)
}

// parseHex decodes hex with an optional 0x prefix, ignoring ASCII
// whitespace. Errors give the position in the text, which is what a user
// looking at the file can find.
func parseHex(text []byte) ([]byte, error) {
	start := 0
	for start < len(text) && isSpace(text[start]) {
		start++
	}
	if len(text)-start >= 2 && text[start] == '0' && (text[start+1] == 'x' || text[start+1] == 'X') {
		start += 2
	}
	out := make([]byte, 0, (len(text)-start)/2)
	var hi byte
	half := false
	for i := start; i < len(text); i++ {
		c := text[i]
		if isSpace(c) {
			continue
		}
		n, ok := hexDigit(c)
		if !ok {
			return nil, fmt.Errorf("bad hex input: invalid character %q at byte %d", rune(c), i)
		}
		if half {
			out = append(out, hi<<4|n)
		} else {
			hi = n
		}
		half = !half
	}
	if half {
		return nil, fmt.Errorf("bad hex input: odd number of hex digits (%d)", 2*len(out)+1)
	}
	if len(out) == 0 {
		return nil, errors.New("no input: expected hex (0x optional)")
	}
	return out, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// v3FlagName is the flag that switches on node feature CandidateReceiptV3
// (bit 4) for decode and hash. The bytes of a descriptor are the same in
// every version, so the feature cannot be read from them: the user says
// what the chain's node features are.
const v3FlagName = "candidate-receipt-v3"

// addV3Flag registers --candidate-receipt-v3 on fs.
func addV3Flag(fs *flag.FlagSet) *bool {
	return fs.Bool(v3FlagName, false, "read descriptors with node feature CandidateReceiptV3 on")
}

// checkV3Flag refuses --candidate-receipt-v3 for a type without
// descriptors, where it could only be a mistake.
func checkV3Flag(t *wireType, on bool) error {
	if on && !t.candidates {
		return usagef("--%s applies to types holding candidates (%s), not %s", v3FlagName, candidateTypes(), t.name)
	}
	return nil
}

// parseArgs parses flags that may come before, between or after the
// positional arguments (Go's flag package stops at the first positional
// one). "--" ends the flags. A flag error is a usage error; -h is errHelp.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard) // errors are reported once, by the dispatcher
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usagef("%v (see provisioner help %s)", err, strings.Fields(fs.Name())[0])
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at a positional argument or right after "--"; in
		// the latter case everything left is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
