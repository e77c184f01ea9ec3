package runtime

import (
	"github.com/polkadot-provisioner/provisioner/types"
)

// SignatureCache remembers signatures known to be valid, so that a node
// does not verify again on import what its gossip validation already
// verified (every bitfield and backing vote of a block, usually). It is
// injected per node (Runtime.WithSignatureCache) and must be safe for
// concurrent use.
//
// Known reports whether sig is a valid signature of exactly payload by
// exactly key: the runtime takes a true answer as a successful
// verification, so an implementation may only answer true for a triple it
// was told by Add (or verified itself). False means "not known": the
// runtime then verifies the signature as it would without a cache. Add is
// told every signature the runtime found valid.
type SignatureCache interface {
	Known(key *types.PublicKey, payload []byte, sig [64]byte) bool
	Add(key *types.PublicKey, payload []byte, sig [64]byte)
}

// WithSignatureCache is the runtime consulting c before it verifies a
// signature (nil: none). The result shares everything else with rt and
// accepts exactly what rt accepts.
func (rt *Runtime) WithSignatureCache(c SignatureCache) *Runtime {
	r := *rt
	r.sigs = c
	return &r
}

// minBatch is the fewest signatures verified as one batch
// (types.BatchVerifier); fewer are verified one at a time, where a batch's
// fixed cost would not pay off.
const minBatch = 8

// sigItem is one signature to verify.
type sigItem = types.SignedPayload

// sigMemo holds verdicts prefetch found for one inherent's signatures, by
// types.SignatureID.
type sigMemo map[string]bool

// prefetch looks the items up in the cache and verifies the others, as
// one batch when there are at least minBatch of them; it returns the
// verdicts it has (the cache's and the batch's) for verifySig. The valid
// ones go into the cache. A batch gives every item the verdict
// PublicKey.Verify gives it, so what the runtime accepts does not depend
// on prefetching.
func (rt *Runtime) prefetch(items []sigItem) sigMemo {
	memo := make(sigMemo, len(items))
	var todo []sigItem
	for _, it := range items {
		if it.Key == nil {
			continue
		}
		if rt.sigs != nil && rt.sigs.Known(it.Key, it.Payload, it.Signature) {
			memo[types.SignatureID(it.Key, it.Payload, it.Signature)] = true
			continue
		}
		todo = append(todo, it)
	}
	if len(todo) < minBatch {
		return memo
	}
	b := types.NewBatchVerifier(len(todo))
	for _, it := range todo {
		b.Add(it.Key, it.Payload, it.Signature)
	}
	valid, _ := b.Verify()
	for i, it := range todo {
		memo[types.SignatureID(it.Key, it.Payload, it.Signature)] = valid[i]
		if valid[i] && rt.sigs != nil {
			rt.sigs.Add(it.Key, it.Payload, it.Signature)
		}
	}
	return memo
}

// verifySig is key.Verify(payload, sig) answered from memo or the cache
// when they know it.
func (rt *Runtime) verifySig(memo sigMemo, key *types.PublicKey, payload []byte, sig [64]byte) bool {
	if memo != nil {
		if ok, found := memo[types.SignatureID(key, payload, sig)]; found {
			return ok
		}
	}
	if rt.sigs != nil && rt.sigs.Known(key, payload, sig) {
		return true
	}
	if !key.Verify(payload, sig) {
		return false
	}
	if rt.sigs != nil {
		rt.sigs.Add(key, payload, sig)
	}
	return true
}

// checkedKey is a validator's key as a types.Verifier that goes through
// verifySig.
type checkedKey struct {
	rt   *Runtime
	memo sigMemo
	key  *types.PublicKey
}

func (k checkedKey) Verify(payload []byte, sig [64]byte) bool {
	return k.rt.verifySig(k.memo, k.key, payload, sig)
}

// checkedVerifier maps a validator index to its checkedKey, or to nil for
// an unknown index (as verifier does).
func (rt *Runtime) checkedVerifier(memo sigMemo) func(types.ValidatorIndex) types.Verifier {
	return func(i types.ValidatorIndex) types.Verifier {
		if int(i) >= len(rt.keys) {
			return nil
		}
		return checkedKey{rt: rt, memo: memo, key: rt.keys[i]}
	}
}

// recordingVerifier maps a validator index to a PayloadRecorder of its key,
// or to nil for an unknown index.
func (rt *Runtime) recordingVerifier(items *[]sigItem) func(types.ValidatorIndex) types.Verifier {
	return func(i types.ValidatorIndex) types.Verifier {
		if int(i) >= len(rt.keys) {
			return nil
		}
		return types.PayloadRecorder{Key: rt.keys[i], Items: items}
	}
}
