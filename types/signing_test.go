package types

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

func hashOf(t testing.TB, s string) (h Hash) {
	copy(h[:], mustHex(t, s))
	return h
}

func keyOf(t testing.TB, s string) *PublicKey {
	t.Helper()
	var raw [32]byte
	copy(raw[:], mustHex(t, s))
	k, err := ParsePublicKey(raw)
	if err != nil {
		t.Fatalf("public key %s: %v", s, err)
	}
	return k
}

func ctxOf(t testing.TB, m map[string]any) SigningContext {
	return SigningContext{SessionIndex: uint32(m["session_index"].(float64)), ParentHash: hashOf(t, m["parent_hash"].(string))}
}

// tampered flips one bit of the signature.
func tampered(sig [64]byte) [64]byte {
	sig[10] ^= 1
	return sig
}

func TestInteropBitfieldSignatures(t *testing.T) {
	for _, f := range vectorFiles(t, "generated/signed_bitfield_*.json") {
		m := loadVector(t, f)
		var s UncheckedSignedAvailabilityBitfield
		if err := Decode(mustHex(t, m["hex"].(string)), &s); err != nil {
			t.Fatal(err)
		}
		ctx := ctxOf(t, m["signing_context"].(map[string]any))
		want := mustHex(t, m["signing_payload"].(string))
		if got := BitfieldSigningPayload(s.Payload, ctx); !bytes.Equal(got, want) {
			t.Fatalf("%s: signing payload %x", f, got)
		}
		prefix := []byte{0xaa, 0xbb}
		if got := AppendBitfieldSigningPayload(prefix, s.Payload, ctx); !bytes.Equal(got, append([]byte{0xaa, 0xbb}, want...)) {
			t.Fatalf("%s: appended signing payload %x", f, got)
		}
		key := keyOf(t, m["public_key"].(string))
		if got, want := s.Verify(key, ctx), m["signature_valid"].(bool); got != want {
			t.Fatalf("%s: verify = %v, want %v", f, got, want)
		}
		bad := s
		bad.Signature = tampered(s.Signature)
		if bad.Verify(key, ctx) {
			t.Fatalf("%s: tampered signature verified", f)
		}
		ctx.SessionIndex++
		if s.Verify(key, ctx) {
			t.Fatalf("%s: verified under the wrong session", f)
		}
	}
}

func TestInteropBackingVotes(t *testing.T) {
	for _, f := range vectorFiles(t, "generated/backed_candidate_*.json") {
		m := loadVector(t, f)
		var bc BackedCandidate
		if err := Decode(mustHex(t, m["hex"].(string)), &bc); err != nil {
			t.Fatal(err)
		}
		hash := bc.Hash()
		keys := map[ValidatorIndex]Verifier{}
		var ctx SigningContext
		for i, v := range m["votes"].([]any) {
			vm := v.(map[string]any)
			ctx = ctxOf(t, vm["signing_context"].(map[string]any))
			st := CompactValid
			if vm["kind"] == "Implicit" {
				st = CompactSeconded
			}
			if got := BackingPayload(st, hash, ctx); !bytes.Equal(got, mustHex(t, vm["signing_payload"].(string))) {
				t.Fatalf("%s vote %d: payload %x", f, i, got)
			}
			k := keyOf(t, vm["public_key"].(string))
			keys[ValidatorIndex(vm["validator_index"].(float64))] = k
			if !bc.ValidityVotes[i].Verify(k, hash, ctx) {
				t.Fatalf("%s vote %d does not verify", f, i)
			}
		}
		var group []ValidatorIndex
		for _, g := range m["group_validators"].([]any) {
			group = append(group, ValidatorIndex(g.(float64)))
		}
		lookup := func(i ValidatorIndex) Verifier {
			if k, ok := keys[i]; ok {
				return k
			}
			return nil
		}
		core, injected := CoreIndex(0), false
		if c, ok := m["injected_core_index"].(float64); ok {
			core, injected = CoreIndex(c), true
		}
		voters, err := bc.VerifyBacking(group, lookup, ctx, injected, core, 1)
		if err != nil || len(voters) != len(bc.ValidityVotes) {
			t.Fatalf("%s: VerifyBacking = %v, %v", f, voters, err)
		}
		if injected {
			if _, err := bc.VerifyBacking(group, lookup, ctx, true, core+1, 1); !errors.Is(err, ErrCoreIndexMismatch) {
				t.Fatalf("%s: wrong core accepted: %v", f, err)
			}
		}
		bad := bc
		bad.ValidityVotes = append([]ValidityAttestation(nil), bc.ValidityVotes...)
		bad.ValidityVotes[0].Signature = tampered(bad.ValidityVotes[0].Signature)
		if _, err := bad.VerifyBacking(group, lookup, ctx, injected, core, 1); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%s: tampered vote: %v", f, err)
		}
		if _, err := bc.VerifyBacking(group, lookup, ctx, injected, core, len(bc.ValidityVotes)+1); !errors.Is(err, ErrNotEnoughVotes) {
			t.Fatalf("%s: too few votes accepted: %v", f, err)
		}
		if s, ok := m["collator_signature"].(string); ok {
			d := bc.Candidate.Descriptor
			if got := d.CollatorSignaturePayload(); !bytes.Equal(got, mustHex(t, m["collator_signature_payload"].(string))) {
				t.Fatalf("%s: collator payload %x", f, got)
			}
			if !bytes.Equal(d.Signature[:], mustHex(t, s)) || !d.VerifyCollator(keyOf(t, m["collator_public_key"].(string))) {
				t.Fatalf("%s: collator signature does not verify", f)
			}
		}
	}
}

func TestInteropDisputeSignatures(t *testing.T) {
	for _, f := range vectorFiles(t, "generated/dispute_statement_set_*.json") {
		m := loadVector(t, f)
		var set DisputeStatementSet
		if err := Decode(mustHex(t, m["hex"].(string)), &set); err != nil {
			t.Fatal(err)
		}
		for i, sv := range m["statements"].([]any) {
			sm := sv.(map[string]any)
			e := &set.Statements[i]
			if got := DisputeStatementPayload(&e.Statement, set.CandidateHash, set.Session); !bytes.Equal(got, mustHex(t, sm["signing_payload"].(string))) {
				t.Fatalf("%s statement %d (%s): payload %x", filepath.Base(f), i, sm["statement"], got)
			}
			k := keyOf(t, sm["public_key"].(string))
			if got := e.Verify(k, set.CandidateHash, set.Session); got != sm["signature_valid"].(bool) {
				t.Fatalf("%s statement %d: verify = %v", f, i, got)
			}
			bad := *e
			bad.Signature = tampered(e.Signature)
			if bad.Verify(k, set.CandidateHash, set.Session) {
				t.Fatalf("%s statement %d: tampered verified", f, i)
			}
		}
	}
}

func TestSignAndVerifyAllKinds(t *testing.T) {
	alice, err := KeypairFromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := ParsePublicKey(alice.Public())
	cand, relay := Hash{1}, Hash{2}
	statements := []DisputeStatement{
		{Valid: true, Kind: ValidExplicit},
		{Valid: true, Kind: ValidBackingSeconded, Hash: relay},
		{Valid: true, Kind: ValidBackingValid, Hash: relay},
		{Valid: true, Kind: ValidApprovalChecking},
		{Valid: true, Kind: ValidApprovalCheckingMultipleCandidates, Hashes: []Hash{cand}},
		{Valid: true, Kind: ValidApprovalCheckingMultipleCandidates, Hashes: []Hash{{9}, cand}},
		{Valid: false, Kind: InvalidExplicit},
	}
	for i, st := range statements {
		e := SignDisputeStatement(alice, st, cand, 5, 0)
		if !e.Verify(pub, cand, 5) {
			t.Errorf("statement %d does not verify", i)
		}
		if e.Verify(pub, Hash{3}, 5) {
			t.Errorf("statement %d verifies for another candidate", i)
		}
	}
	// One candidate in the multiple-candidates form signs exactly like the
	// single-candidate approval vote.
	single := DisputeStatementPayload(&statements[3], cand, 5)
	multi := DisputeStatementPayload(&statements[4], cand, 5)
	if !bytes.Equal(single, multi) {
		t.Fatalf("single %x != multi-with-one %x", single, multi)
	}
}

func TestMisbehaviorReport(t *testing.T) {
	bob, _ := KeypairFromURI("//Bob")
	pub, _ := ParsePublicKey(bob.Public())
	cand := Hash{7}
	valid := SignDisputeStatement(bob, DisputeStatement{Valid: true, Kind: ValidBackingSeconded, Hash: Hash{8}}, cand, 4, 1)
	invalid := SignDisputeStatement(bob, DisputeStatement{Valid: false, Kind: InvalidExplicit}, cand, 4, 1)
	rep := MisbehaviorReport{Session: 4, CandidateHash: cand, ValidatorIndex: 1,
		First:  SignedDisputeStatement{valid.Statement, valid.Signature},
		Second: SignedDisputeStatement{invalid.Statement, invalid.Signature}}
	if err := rep.Verify(pub); err != nil {
		t.Fatalf("valid report: %v", err)
	}
	var back MisbehaviorReport
	if err := Decode(Encode(&rep), &back); err != nil || !bytes.Equal(Encode(&back), Encode(&rep)) {
		t.Fatalf("round trip: %v", err)
	}
	same := rep
	same.Second = rep.First
	if err := same.Verify(pub); !errors.Is(err, ErrNotContradictory) {
		t.Fatalf("same-side report: %v", err)
	}
	forged := rep
	forged.Second.Signature = tampered(rep.Second.Signature)
	if err := forged.Verify(pub); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged report: %v", err)
	}
	set := rep.DisputeStatementSet()
	if len(set.Statements) != 2 || set.Statements[1].ValidatorIndex != 1 || set.Session != 4 {
		t.Fatalf("dispute set %+v", set)
	}
}

// TestPayloadRecorder: BitfieldVerify through a PayloadRecorder records
// exactly the payload a real verification checks, with the key and the
// signature, and checks nothing (a forged signature is recorded too).
func TestPayloadRecorder(t *testing.T) {
	kp, err := KeypairFromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ParsePublicKey(kp.Public())
	if err != nil {
		t.Fatal(err)
	}
	ctx := SigningContext{SessionIndex: 7, ParentHash: Hash{1}}
	bits := NewBitVec(5)
	bits.Set(2, true)
	bf := SignBitfield(kp, bits, 3, ctx)
	forged := bf
	forged.Signature[0] ^= 1
	var items []SignedPayload
	rec := PayloadRecorder{Key: pk, Items: &items}
	if !bf.Verify(rec, ctx) || !forged.Verify(rec, ctx) {
		t.Fatal("a recorder says true")
	}
	want := BitfieldSigningPayload(bits, ctx)
	if len(items) != 2 {
		t.Fatalf("%d items, want 2", len(items))
	}
	for i, sig := range [][64]byte{bf.Signature, forged.Signature} {
		if items[i].Key != pk || !bytes.Equal(items[i].Payload, want) || items[i].Signature != sig {
			t.Fatalf("item %d: %+v", i, items[i])
		}
	}
	if !pk.Verify(items[0].Payload, items[0].Signature) || pk.Verify(items[1].Payload, items[1].Signature) {
		t.Fatal("the recorded triples do not verify as the signatures do")
	}
}

// TestAppendBitfieldSigningPayload: the payload's exact bytes (bits
// 0..4 with bit 2 set, session 7, parent hash 01 00..00), appended after
// what dst holds, and no allocation when dst has room: gossip validators
// build every bitfield's payload in a buffer they reuse.
func TestAppendBitfieldSigningPayload(t *testing.T) {
	ctx := SigningContext{SessionIndex: 7, ParentHash: Hash{1}}
	bits := NewBitVec(5)
	bits.Set(2, true)
	want := append([]byte{0xee, 0x14, 0x04, 7, 0, 0, 0, 1}, make([]byte, 31)...)
	got := AppendBitfieldSigningPayload([]byte{0xee}, bits, ctx)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	if fresh := BitfieldSigningPayload(bits, ctx); !bytes.Equal(fresh, want[1:]) {
		t.Fatalf("BitfieldSigningPayload %x, want %x", fresh, want[1:])
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = AppendBitfieldSigningPayload(buf[:0], bits, ctx) }); n != 0 {
		t.Fatalf("%v allocations per payload into a buffer with room, want 0", n)
	}
}
