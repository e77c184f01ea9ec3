package main

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/polkadot-provisioner/provisioner/types"
)

// v3Receipt is the facts sheet's worked V3 example (real Polkadot block
// 28,490,503, candidate 0, with version byte 1 and the block's parent as
// scheduling parent) as a CandidateReceipt with the real commitments hash.
const v3Receipt = "" +
	"e803000052fea4c5f648771f5f0674b8286d5538a5d96566e6447be44786a601" +
	"b8298d45010200952e0000000000000000000000000000000000000000000000" +
	"00000000936e24ecbf87673f381d547ead30db4f90975d27b291933e97b2d38b" +
	"8b2bf778dae2eeadfc901f7eaa284bedc42922576af9a9112bdf8fb379a41037" +
	"5eff0e18e268ac53b54bd6b2caa58119eef5c6c46f2a1c56d0de32d6a6306550" +
	"5bf83f8dc3eff575c9a4959b9e124aa52cbc8627a7817a58bfae3d402434e461" +
	"1d6ae08400000000000000000000000000000000000000000000000000000000" +
	"00000000ead4ad53a520bfbfb130b0e16142102408f22c3123c9f572b0f9d46a" +
	"31d5a108274e1781dc36a23a922f9ec1e04afe0496a503612c4d57aa4fa0c8bf" +
	"55b1237a" +
	"fc6f77bf6da3b7579fd9e5552a10b2c7157d7aa6d83cb295afe95b657e765c53"

// v3ReceiptJSON is what decode --candidate-receipt-v3 prints for it.
const v3ReceiptJSON = `{
  "descriptor": {
    "para_id": 1000,
    "relay_parent": "0x52fea4c5f648771f5f0674b8286d5538a5d96566e6447be44786a601b8298d45",
    "version": 1,
    "core_index": 2,
    "session_index": 11925,
    "scheduling_session_offset": 0,
    "reserved1": "0x000000000000000000000000000000000000000000000000",
    "persisted_validation_data_hash": "0x936e24ecbf87673f381d547ead30db4f90975d27b291933e97b2d38b8b2bf778",
    "pov_hash": "0xdae2eeadfc901f7eaa284bedc42922576af9a9112bdf8fb379a410375eff0e18",
    "erasure_root": "0xe268ac53b54bd6b2caa58119eef5c6c46f2a1c56d0de32d6a63065505bf83f8d",
    "scheduling_parent": "0xc3eff575c9a4959b9e124aa52cbc8627a7817a58bfae3d402434e4611d6ae084",
    "reserved2": "0x0000000000000000000000000000000000000000000000000000000000000000",
    "para_head": "0xead4ad53a520bfbfb130b0e16142102408f22c3123c9f572b0f9d46a31d5a108",
    "validation_code_hash": "0x274e1781dc36a23a922f9ec1e04afe0496a503612c4d57aa4fa0c8bf55b1237a"
  },
  "commitments_hash": "0xfc6f77bf6da3b7579fd9e5552a10b2c7157d7aa6d83cb295afe95b657e765c53"
}
`

func TestDecodeCandidateReceiptV3(t *testing.T) {
	if got := mustSucceed(t, v3Receipt, "decode", "--candidate-receipt-v3", "candidate-receipt"); got != v3ReceiptJSON {
		t.Fatalf("decode --candidate-receipt-v3\n got %s\nwant %s", got, v3ReceiptJSON)
	}
	// The flag may follow the type, as every flag may.
	if got := mustSucceed(t, v3Receipt, "decode", "candidate-receipt", "-candidate-receipt-v3"); got != v3ReceiptJSON {
		t.Fatalf("flag after TYPE: %s", got)
	}
	// Without the feature the same bytes are a V1 descriptor: collator and
	// signature, as a chain without the feature reads them.
	got := mustSucceed(t, v3Receipt, "decode", "candidate-receipt")
	for _, want := range []string{
		`"collator": "0x010200952e000000000000000000000000000000000000000000000000000000"`,
		`"signature": "0xc3eff575c9a4959b9e124aa52cbc8627a7817a58bfae3d402434e4611d6ae0840000000000000000000000000000000000000000000000000000000000000000"`,
	} {
		if !strings.Contains(got, want) {
			t.Fatalf("without the flag, no %s in\n%s", want, got)
		}
	}
}

// TestV3FlagReachesNestedCandidates: the real block's inherent decoded with
// the flag prints its V2 descriptors in the V3 layout (zero scheduling
// parent) and its V1 ones unchanged, inside inherent-data, the extrinsic and
// the sp_inherents map alike.
func TestV3FlagReachesNestedCandidates(t *testing.T) {
	v := loadVector(t, "real/polkadot-28490503-para-inherent.json")
	raw := mustHex(t, v.str(t, "hex"))
	var d types.InherentData
	if err := types.Decode(raw, &d); err != nil {
		t.Fatal(err)
	}
	m := types.NewParachainsInherentDataMap(&d)
	inputs := map[string]string{
		"inherent-data":     v.str(t, "hex"),
		"extrinsic":         v.str(t, "extrinsic_hex"),
		"inherent-data-map": hex.EncodeToString(types.Encode(&m)),
	}
	for typ, in := range inputs {
		on := mustSucceed(t, in, "decode", "--candidate-receipt-v3", typ)
		off := mustSucceed(t, in, "decode", typ)
		// 12 V2 descriptors gain the V3 fields; the 16 V1 ones keep
		// "collator".
		if n := strings.Count(on, `"scheduling_parent": "0x0000000000000000000000000000000000000000000000000000000000000000"`); n != 12 {
			t.Errorf("%s: %d zero scheduling parents with the flag, want 12", typ, n)
		}
		if n := strings.Count(on, `"collator"`); n != 16 {
			t.Errorf("%s: %d V1 descriptors with the flag, want 16", typ, n)
		}
		if strings.Contains(off, "scheduling_parent") || strings.Count(off, `"collator"`) != 16 {
			t.Errorf("%s: without the flag the output changed", typ)
		}
	}
}

func TestHashCandidateReceiptV3(t *testing.T) {
	// The candidate hash is of the bytes: the feature does not change it.
	on := mustSucceed(t, v3Receipt, "hash", "--candidate-receipt-v3", "candidate-receipt")
	off := mustSucceed(t, v3Receipt, "hash", "candidate-receipt")
	var r types.CandidateReceipt
	if err := types.Decode(mustHex(t, v3Receipt), &r); err != nil {
		t.Fatal(err)
	}
	want := r.Hash().String() + "\n"
	if on != want || off != want {
		t.Fatalf("hash with the flag %q, without %q, want %q", on, off, want)
	}
}

func TestV3FlagErrors(t *testing.T) {
	header := loadVector(t, "generated/parent_header.json").str(t, "hex")
	for _, tc := range []struct {
		args   []string
		stdin  string
		stderr string
	}{
		{[]string{"decode", "--candidate-receipt-v3", "header"}, header,
			"provisioner decode: --candidate-receipt-v3 applies to types holding candidates (inherent-data, backed-candidate, candidate-receipt, committed-candidate-receipt, extrinsic, inherent-data-map), not header\n"},
		{[]string{"hash", "--candidate-receipt-v3", "header"}, header,
			"provisioner hash: --candidate-receipt-v3 applies to types holding candidates (inherent-data, backed-candidate, candidate-receipt, committed-candidate-receipt, extrinsic, inherent-data-map), not header\n"},
		{[]string{"decode", "--candidate-receipt-v3=maybe", "candidate-receipt"}, v3Receipt, ""},
	} {
		code, out, errOut := cli(t, tc.stdin, tc.args...)
		if code != exitUsage || out != "" {
			t.Errorf("%v: exit %d, stdout %q; want exit %d", tc.args, code, out, exitUsage)
		}
		if tc.stderr != "" && errOut != tc.stderr {
			t.Errorf("%v: stderr\n got %q\nwant %q", tc.args, errOut, tc.stderr)
		}
	}
}
