package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/polkadot-provisioner/provisioner/codec"
	"github.com/polkadot-provisioner/provisioner/types"
)

// interopDir holds the project's copy of the interop vectors.
const interopDir = "../../types/testdata/interop"

// cli runs the command in-process and returns its exit status and output.
func cli(t testing.TB, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// mustSucceed runs the command and fails the test unless it exits 0 with
// nothing on stderr.
func mustSucceed(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, stdin, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
	}
	return out
}

// vector is one shared interop file with its fields kept raw, so `decoded`
// can be compared byte for byte (key order included) with our output.
type vector map[string]json.RawMessage

func loadVector(t testing.TB, name string) vector {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(interopDir, name))
	if err != nil {
		t.Fatalf("read vector (types/testdata/interop): %v", err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return v
}

func (v vector) str(t testing.TB, key string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(v[key], &s); err != nil {
		t.Fatalf("vector field %q is not a string: %v", key, err)
	}
	return s
}

func (v vector) has(key string) bool { _, ok := v[key]; return ok }

func compact(t testing.TB, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %v\n%.300s", err, b)
	}
	return buf.String()
}

func vectorFiles(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(interopDir, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors match %s", pattern)
	}
	for i, f := range files {
		files[i], _ = filepath.Rel(interopDir, f)
	}
	return files
}

func TestDecodeExactJSON(t *testing.T) {
	v := loadVector(t, "generated/signed_bitfield_1.json")
	got := mustSucceed(t, v.str(t, "hex"), "decode", "signed-bitfield")
	want := `{
  "payload": {
    "bit_length": 12,
    "bytes": "0xff0f",
    "bits": "111111111111"
  },
  "validator_index": 1,
  "signature": "0xae739af3ddb2c3532a4ad87b45cee91e0694815b9b90947975ea9fe905b60852a25358fd12640621d4bdd2e11e8c2640aaf3a1db535d056a1e74720fe745ab82"
}
`
	if got != want {
		t.Fatalf("decode output\n got: %s\nwant: %s", got, want)
	}
}

// TestDecodeVectors decodes generated vectors and compares the printed JSON
// with the vector's `decoded`, byte for byte after compacting (so field
// order counts). Vectors print every descriptor in the v2 layout, we print
// the detected version, so v1-descriptor vectors compare with v1_decoded
// where the vector has it, and are only decoded otherwise.
func TestDecodeVectors(t *testing.T) {
	cases := []struct {
		file, typ, hexKey, jsonKey string
	}{
		{"generated/signed_bitfield_0.json", "signed-bitfield", "hex", "decoded"},
		{"generated/signed_bitfield_1.json", "signed-bitfield", "hex", "decoded"},
		{"generated/signed_bitfield_2.json", "signed-bitfield", "hex", "decoded"},
		{"generated/signed_bitfield_3.json", "signed-bitfield", "hex", "decoded"},
		{"generated/signed_bitfield_4.json", "signed-bitfield", "hex", "decoded"},
		{"generated/parent_header.json", "header", "hex", "decoded"},
		{"generated/dispute_statement_set_0.json", "dispute-statement-set", "hex", "decoded"},
		{"generated/dispute_statement_set_1.json", "dispute-statement-set", "hex", "decoded"},
		{"generated/candidate_receipt_0.json", "candidate-receipt", "hex", "decoded"},
		{"generated/candidate_receipt_1.json", "candidate-receipt", "hex", "v1_decoded"},
		{"generated/candidate_receipt_2.json", "candidate-receipt", "hex", "decoded"},
		{"generated/candidate_receipt_0.json", "candidate-commitments", "commitments_hex", "commitments_decoded"},
		{"generated/candidate_receipt_1.json", "candidate-commitments", "commitments_hex", "commitments_decoded"},
		{"generated/candidate_receipt_2.json", "candidate-commitments", "commitments_hex", "commitments_decoded"},
		{"generated/backed_candidate_0.json", "backed-candidate", "hex", "decoded"},
		{"generated/backed_candidate_1.json", "backed-candidate", "hex", ""},
		{"generated/backed_candidate_2.json", "backed-candidate", "hex", "decoded"},
		{"generated/backed_candidate_0.json", "committed-candidate-receipt", "committed_candidate_receipt_hex", ""},
		{"generated/backed_candidate_1.json", "committed-candidate-receipt", "committed_candidate_receipt_hex", ""},
		{"generated/inherent_data.json", "inherent-data", "hex", ""},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.file)+"/"+c.typ, func(t *testing.T) {
			v := loadVector(t, c.file)
			out := mustSucceed(t, v.str(t, c.hexKey), "decode", c.typ)
			got := compact(t, []byte(out))
			if c.jsonKey == "" {
				return
			}
			if want := compact(t, v[c.jsonKey]); got != want {
				t.Fatalf("JSON differs from %s\n got: %.800s\nwant: %.800s", c.jsonKey, got, want)
			}
		})
	}
}

// TestDecodeInputForms: 0x is optional, whitespace anywhere is ignored,
// upper case works, FILE and "-" are read.
func TestDecodeInputForms(t *testing.T) {
	v := loadVector(t, "generated/parent_header.json")
	h := v.str(t, "hex")
	want := mustSucceed(t, h, "decode", "header")

	var wrapped strings.Builder
	body := strings.TrimPrefix(h, "0x")
	for i := 0; i < len(body); i += 60 {
		wrapped.WriteString(body[i:min(i+60, len(body))])
		wrapped.WriteString(" \r\n\t")
	}
	file := filepath.Join(t.TempDir(), "header.hex")
	if err := os.WriteFile(file, []byte("  0X"+strings.ToUpper(body)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		stdin string
		args  []string
	}{
		"no 0x":         {body, []string{"decode", "header"}},
		"wrapped":       {"\n0x" + wrapped.String(), []string{"decode", "header"}},
		"stdin dash":    {h, []string{"decode", "header", "-"}},
		"file upper 0X": {"", []string{"decode", "header", file}},
	} {
		if got := mustSucceed(t, c.stdin, c.args...); got != want {
			t.Errorf("%s: output differs", name)
		}
	}
}

func TestExtrinsicAndInherentDataMap(t *testing.T) {
	v := loadVector(t, "generated/para_inherent_extrinsic.json")
	inherent := compact(t, []byte(mustSucceed(t, loadVector(t, "generated/inherent_data.json").str(t, "hex"), "decode", "inherent-data")))

	for key, version := range map[string]int{"extrinsic_v4_hex": 4, "extrinsic_v5_bare_hex": 5} {
		out := mustSucceed(t, v.str(t, key), "decode", "extrinsic")
		var x struct {
			Version   int             `json:"version"`
			CallIndex []int           `json:"call_index"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			t.Fatal(err)
		}
		if x.Version != version || len(x.CallIndex) != 2 || x.CallIndex[0] != 54 || x.CallIndex[1] != 0 {
			t.Errorf("%s: version %d call_index %v", key, x.Version, x.CallIndex)
		}
		if compact(t, x.Data) != inherent {
			t.Errorf("%s: data differs from the decoded inherent", key)
		}
		if !strings.HasPrefix(compact(t, []byte(out)), `{"version":`+string(rune('0'+version))+`,"call_index":[54,0],"data":{`) {
			t.Errorf("%s: field order: %.80s", key, compact(t, []byte(out)))
		}
	}

	out := compact(t, []byte(mustSucceed(t, v.str(t, "sp_inherents_inherent_data_hex"), "decode", "inherent-data-map")))
	if want := `{"parachn0":` + inherent + `}`; out != want {
		t.Errorf("inherent-data-map: %.200s", out)
	}

	// A map with a printable non-parachains identifier and a non-printable
	// one, in the BTreeMap's (byte) order.
	var m types.InherentDataMap
	m.Put([8]byte{0, 1, 2, 3, 4, 5, 6, 0xff}, []byte{0xaa})
	m.Put([8]byte{'t', 'i', 'm', 's', 't', 'a', 'p', '0'}, []byte{1, 2, 3})
	m.Put(types.ParachainsInherentIdentifier, mustHex(t, loadVector(t, "generated/inherent_data.json").str(t, "hex")))
	out = compact(t, []byte(mustSucceed(t, hex.EncodeToString(types.Encode(&m)), "decode", "inherent-data-map")))
	want := `{"0x00010203040506ff":"0xaa","parachn0":` + inherent + `,"timstap0":"0x010203"}`
	if out != want {
		t.Errorf("inherent-data-map\n got: %.300s\nwant: %.300s", out, want)
	}

	// A parachn0 entry that is not an inherent is bad data.
	var bad types.InherentDataMap
	bad.Put(types.ParachainsInherentIdentifier, []byte{0})
	code, _, errOut := cli(t, hex.EncodeToString(types.Encode(&bad)), "decode", "inherent-data-map")
	if code != 1 || errOut != "provisioner decode: parachn0 entry: decode inherent data: input truncated at offset 1 reading backed_candidates: need 1 byte, have 0\n" {
		t.Errorf("bad parachn0: exit %d, %q", code, errOut)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHash(t *testing.T) {
	type hashCase struct{ typ, hexKey, hashKey string }
	cases := map[string][]hashCase{
		"generated/parent_header.json": {{"header", "hex", "header_hash"}},
		"generated/inherent_data.json": {},
		"generated/para_inherent_extrinsic.json": {
			{"extrinsic", "extrinsic_v4_hex", "extrinsic_v4_hash"},
			{"extrinsic", "extrinsic_v5_bare_hex", "extrinsic_v5_bare_hash"},
		},
	}
	for _, f := range vectorFiles(t, "generated/candidate_receipt_*.json") {
		cases[f] = []hashCase{
			{"candidate-receipt", "hex", "candidate_hash"},
			{"committed-candidate-receipt", "committed_candidate_receipt_hex", "candidate_hash"},
			{"candidate-commitments", "commitments_hex", "commitments_hash"},
		}
	}
	for _, f := range vectorFiles(t, "generated/backed_candidate_*.json") {
		cases[f] = []hashCase{
			{"backed-candidate", "hex", "candidate_hash"},
			{"candidate-receipt", "candidate_receipt_hex", "candidate_hash"},
			{"committed-candidate-receipt", "committed_candidate_receipt_hex", "candidate_hash"},
			{"candidate-commitments", "commitments_hex", "commitments_hash"},
		}
	}
	n := 0
	for file, hcs := range cases {
		v := loadVector(t, file)
		for _, c := range hcs {
			got := mustSucceed(t, v.str(t, c.hexKey), "hash", c.typ)
			if want := v.str(t, c.hashKey) + "\n"; got != want {
				t.Errorf("%s %s: hash %q, want %q", file, c.typ, got, want)
			}
			n++
		}
	}

	// Real blocks: every candidate's receipt gives its candidate hash, the
	// extrinsic its on-chain hash, the parent header the block's parent.
	for _, f := range vectorFiles(t, "real/*-para-inherent.json") {
		v := loadVector(t, f)
		if v.has("extrinsic_hash") {
			if got := mustSucceed(t, v.str(t, "extrinsic_hex"), "hash", "extrinsic"); got != v.str(t, "extrinsic_hash")+"\n" {
				t.Errorf("%s: extrinsic hash %q", f, got)
			}
			n++
		}
		var cands []map[string]any
		if err := json.Unmarshal(v["candidates"], &cands); err != nil {
			t.Fatal(err)
		}
		for i, c := range cands {
			got := mustSucceed(t, c["candidate_receipt_hex"].(string), "hash", "candidate-receipt")
			if want := c["candidate_hash"].(string) + "\n"; got != want {
				t.Errorf("%s candidate %d: hash %q, want %q", f, i, got, want)
			}
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d hashes checked", n)
	}
}

func TestRealInherents(t *testing.T) {
	for _, f := range vectorFiles(t, "real/*-para-inherent.json") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			v := loadVector(t, f)
			mustSucceed(t, v.str(t, "hex"), "decode", "inherent-data")
			out := mustSucceed(t, v.str(t, "extrinsic_hex"), "decode", "extrinsic")
			var x struct {
				Version   int   `json:"version"`
				CallIndex []int `json:"call_index"`
			}
			if err := json.Unmarshal([]byte(out), &x); err != nil {
				t.Fatal(err)
			}
			var wantCall []int
			if err := json.Unmarshal(v["para_inherent_call_index"], &wantCall); err != nil {
				t.Fatal(err)
			}
			// Not every vector records the version byte; it follows the
			// extrinsic's compact length prefix.
			r := codec.NewReader(mustHex(t, v.str(t, "extrinsic_hex")), codec.DefaultLimits)
			r.Compact("extrinsic length")
			wantVersion := int(r.U8("extrinsic version"))
			if v.has("extrinsic_version_byte") && string(v["extrinsic_version_byte"]) != strconv.Itoa(wantVersion) {
				t.Fatalf("vector says version %s, bytes say %d", v["extrinsic_version_byte"], wantVersion)
			}
			if x.Version != wantVersion || len(x.CallIndex) != 2 || x.CallIndex[0] != wantCall[0] || x.CallIndex[1] != wantCall[1] {
				t.Errorf("extrinsic version %d call %v, want %d %v", x.Version, x.CallIndex, wantVersion, wantCall)
			}
		})
	}
}

func TestVerifySignedBitfield(t *testing.T) {
	for _, f := range vectorFiles(t, "generated/signed_bitfield_*.json") {
		t.Run(filepath.Base(f), func(t *testing.T) {
			v := loadVector(t, f)
			var ctx struct {
				Session uint32 `json:"session_index"`
				Parent  string `json:"parent_hash"`
			}
			if err := json.Unmarshal(v["signing_context"], &ctx); err != nil {
				t.Fatal(err)
			}
			good := v.str(t, "hex")
			key := v.str(t, "public_key")
			session := "42"
			if ctx.Session != 42 {
				t.Fatalf("vector session %d; test assumes 42", ctx.Session)
			}
			args := func(key, session, parent string) []string {
				return []string{"verify", "signed-bitfield", "--public-key", key, "--session", session, "--parent-hash", parent}
			}
			if out := mustSucceed(t, good, args(key, session, ctx.Parent)...); out != "valid\n" {
				t.Fatalf("stdout %q, want valid", out)
			}
			// FILE before the flags, SS58 key.
			file := filepath.Join(t.TempDir(), "bf.hex")
			if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
				t.Fatal(err)
			}
			ss58 := types.SS58Encode([32]byte(mustHex(t, key)), 42)
			if out := mustSucceed(t, "", "verify", "signed-bitfield", file, "--session=42", "--public-key", ss58, "--parent-hash", ctx.Parent); out != "valid\n" {
				t.Fatalf("stdout %q, want valid", out)
			}

			raw := mustHex(t, good)
			flipSig := bytes.Clone(raw)
			flipSig[len(flipSig)-10] ^= 0x01
			flipBit := bytes.Clone(raw)
			flipBit[1] ^= 0x01 // first payload byte: a different, still canonical bitfield
			other := loadVector(t, "generated/signed_bitfield_0.json").str(t, "public_key")
			if other == key {
				other = loadVector(t, "generated/signed_bitfield_1.json").str(t, "public_key")
			}
			for name, c := range map[string]struct {
				input string
				args  []string
			}{
				"signature byte": {hex.EncodeToString(flipSig), args(key, session, ctx.Parent)},
				"payload bit":    {hex.EncodeToString(flipBit), args(key, session, ctx.Parent)},
				"session":        {good, args(key, "43", ctx.Parent)},
				"parent hash":    {good, args(key, session, "0x"+strings.Repeat("00", 32))},
				"other key":      {good, args(other, session, ctx.Parent)},
			} {
				code, out, errOut := cli(t, c.input, c.args...)
				if code != 1 || out != "" || !strings.HasPrefix(errOut, "provisioner verify: signature invalid: ") || strings.Count(errOut, "\n") != 1 {
					t.Errorf("tampered %s: exit %d, stdout %q, stderr %q", name, code, out, errOut)
				}
			}
		})
	}
}

func TestKeyInspect(t *testing.T) {
	const aliceHex = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
	want := "Public key (hex):  " + aliceHex + "\n" +
		"Public key (SS58): 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\n" +
		"Network prefix:    42\n"
	if got := mustSucceed(t, "", "key", "inspect", "//Alice"); got != want {
		t.Fatalf("key inspect //Alice\n got: %q\nwant: %q", got, want)
	}
	if got := mustSucceed(t, "//Alice\n", "key", "inspect", "-"); got != want {
		t.Fatalf("key inspect - (stdin)\n got: %q\nwant: %q", got, want)
	}
	polkadot := "Public key (hex):  " + aliceHex + "\n" +
		"Public key (SS58): 15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5\n" +
		"Network prefix:    0\n"
	for _, args := range [][]string{
		{"key", "inspect", "--network-prefix", "0", "//Alice"},
		{"key", "inspect", "//Alice", "--network-prefix=0"},
	} {
		if got := mustSucceed(t, "", args...); got != polkadot {
			t.Errorf("%v\n got: %q\nwant: %q", args, got, polkadot)
		}
	}
}

// TestErrors: bad input gives exactly one line on stderr, naming the
// problem, nothing on stdout, and exit 1 (bad data) or 2 (usage).
func TestErrors(t *testing.T) {
	header := loadVector(t, "generated/parent_header.json").str(t, "hex")
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		line  string
	}{
		{"bad hex", "0x12zz", []string{"decode", "header"}, 1,
			"provisioner decode: bad hex input: invalid character 'z' at byte 4"},
		{"odd hex", "0x123", []string{"decode", "header"}, 1,
			"provisioner decode: bad hex input: odd number of hex digits (3)"},
		{"empty input", " \n", []string{"decode", "header"}, 1,
			"provisioner decode: no input: expected hex (0x optional)"},
		{"truncated", header[:len(header)-2], []string{"decode", "header"}, 1,
			"provisioner decode: decode header: input truncated at offset 236 reading digest data: length 64 needs at least 64 bytes, have 63"},
		{"truncated early", "0x1234", []string{"hash", "header"}, 1,
			"provisioner hash: decode header: input truncated at offset 0 reading header parent_hash: need 32 bytes, have 2"},
		{"trailing bytes", header + "00", []string{"decode", "header"}, 1,
			"provisioner decode: decode header: trailing bytes after value at offset 302 reading end of value: 1 bytes left"},
		{"non-canonical bitvec", "0x0403" + strings.Repeat("00", 68), []string{"decode", "signed-bitfield"}, 1,
			"provisioner decode: decode signed bitfield: non-canonical encoding at offset 2 reading bitvec padding: bits set past the bit length"},
		{"unknown type", header, []string{"decode", "foo"}, 2,
			`provisioner decode: unknown type "foo" (known: inherent-data, signed-bitfield, backed-candidate, candidate-receipt, committed-candidate-receipt, candidate-commitments, dispute-statement-set, header, extrinsic, inherent-data-map)`},
		{"missing file", "", []string{"decode", "header", "/nonexistent/input.hex"}, 1,
			"provisioner decode: open /nonexistent/input.hex: no such file or directory"},
		{"no hash", header, []string{"hash", "signed-bitfield"}, 2,
			`provisioner hash: type "signed-bitfield" has no hash (hashable: backed-candidate, candidate-receipt, committed-candidate-receipt, candidate-commitments, header, extrinsic)`},
		{"missing type", header, []string{"decode"}, 2,
			"provisioner decode: missing TYPE (one of inherent-data, signed-bitfield, backed-candidate, candidate-receipt, committed-candidate-receipt, candidate-commitments, dispute-statement-set, header, extrinsic, inherent-data-map)"},
		{"too many args", header, []string{"decode", "header", "a", "b"}, 2,
			"provisioner decode: too many arguments: want TYPE [FILE], got 3 arguments (see provisioner help decode)"},
		{"unknown flag", header, []string{"decode", "--pretty", "header"}, 2,
			"provisioner decode: flag provided but not defined: -pretty (see provisioner help decode)"},
		{"no command", "", nil, 2,
			"provisioner: missing command (commands: decode, hash, verify, key, build-spec, node; see provisioner help)"},
		{"unknown command", "", []string{"encode"}, 2,
			`provisioner: unknown command "encode" (commands: decode, hash, verify, key, build-spec, node; see provisioner help)`},
		{"help unknown", "", []string{"help", "encode"}, 2,
			`provisioner help: unknown command "encode" (commands: decode, hash, verify, key, build-spec, node)`},
		{"verify what", "", []string{"verify", "backed-candidate"}, 2,
			`provisioner verify: cannot verify "backed-candidate": only signed-bitfield is supported`},
		{"verify no key", "", []string{"verify", "signed-bitfield", "--session", "1"}, 2,
			"provisioner verify: missing --public-key (see provisioner help verify)"},
		{"verify bad session", "", []string{"verify", "signed-bitfield", "--public-key", "0x" + strings.Repeat("11", 32), "--session", "-1", "--parent-hash", "0x" + strings.Repeat("00", 32)}, 2,
			`provisioner verify: --session "-1": not a u32 session index`},
		{"verify short key", "", []string{"verify", "signed-bitfield", "--public-key", "0x1111", "--session", "1", "--parent-hash", "0x" + strings.Repeat("00", 32)}, 2,
			"provisioner verify: --public-key: 2 bytes, want 32"},
		{"verify short parent", "", []string{"verify", "signed-bitfield", "--public-key", "0x" + strings.Repeat("11", 32), "--session", "1", "--parent-hash", "0x00"}, 2,
			"provisioner verify: --parent-hash: 1 bytes, want 32"},
		{"verify bad data", "0x00", []string{"verify", "signed-bitfield", "--public-key", "0x" + strings.Repeat("11", 32), "--session", "1", "--parent-hash", "0x" + strings.Repeat("00", 32)}, 1,
			"provisioner verify: decode signed bitfield: input truncated at offset 1 reading bitfield validator_index: need 4 bytes, have 0"},
		{"key no subcommand", "", []string{"key"}, 2,
			"provisioner key: missing subcommand (inspect, generate-node-key, inspect-node-key)"},
		{"key bad uri", "", []string{"key", "inspect", "not a phrase"}, 1,
			"provisioner key: invalid secret URI: phrase has 3 words, want 12, 15, 18, 21 or 24"},
		{"key bad prefix", "", []string{"key", "inspect", "--network-prefix", "16384", "//Alice"}, 2,
			`provisioner key: --network-prefix "16384": want an integer from 0 to 16383`},
		{"key two uris", "", []string{"key", "inspect", "//Alice", "//Bob"}, 2,
			"provisioner key: want exactly one URI, got 2 arguments (see provisioner help key)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := cli(t, c.stdin, c.args...)
			if code != c.code || out != "" || errOut != c.line+"\n" {
				t.Errorf("exit %d (want %d), stdout %q\n got stderr: %q\nwant stderr: %q", code, c.code, out, errOut, c.line+"\n")
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		out := mustSucceed(t, "", args...)
		for _, name := range append(strings.Split(typeNames(nil), ", "), "decode", "hash", "verify", "key") {
			if !strings.Contains(out, name) {
				t.Errorf("%v: usage does not name %q", args, name)
			}
		}
	}
	for _, c := range commands {
		for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}, {c.name, "--help"}} {
			if out := mustSucceed(t, "", args...); out != c.usage || !strings.HasPrefix(out, "Usage: provisioner "+c.name) {
				t.Errorf("%v: wrong help text %.60q", args, out)
			}
		}
	}
	decode := mustSucceed(t, "", "help", "decode")
	for _, name := range strings.Split(typeNames(nil), ", ") {
		if !strings.Contains(decode, "\n  "+name+" ") {
			t.Errorf("decode usage does not list %q", name)
		}
	}
}

func TestSameBytes(t *testing.T) {
	if err := sameBytes("x", []byte{1, 2}, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	err := sameBytes("header", []byte{1, 2, 3}, []byte{1, 9})
	if err == nil || err.Error() != "header: re-encoding differs from the input at offset 1 (input 2 bytes, re-encoding 3 bytes)" {
		t.Fatalf("got %v", err)
	}
}

// FuzzDecode: whatever the bytes, decode and hash exit 0 or 1 with at most
// one line on stderr, and never reach the panic guard.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"generated/signed_bitfield_0.json", "generated/parent_header.json",
		"generated/dispute_statement_set_1.json", "generated/backed_candidate_1.json", "generated/candidate_receipt_0.json"} {
		raw, err := os.ReadFile(filepath.Join(interopDir, name))
		if err != nil {
			f.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			f.Fatal(err)
		}
		b, _ := hex.DecodeString(strings.TrimPrefix(v["hex"].(string), "0x"))
		for i := range wireTypes {
			f.Add(uint8(i), b)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		wt := &wireTypes[int(which)%len(wireTypes)]
		for _, cmd := range []string{"decode", "hash"} {
			if cmd == "hash" && wt.hash == nil {
				continue
			}
			code, _, errOut := cli(t, hex.EncodeToString(data), cmd, wt.name)
			if (code != 0 && code != 1) || strings.Count(errOut, "\n") > 1 || strings.Contains(errOut, "internal error") {
				t.Fatalf("%s %s: exit %d, stderr %q", cmd, wt.name, code, errOut)
			}
			if (code == 0) != (errOut == "") {
				t.Fatalf("%s %s: exit %d with stderr %q", cmd, wt.name, code, errOut)
			}
		}
	})
}
