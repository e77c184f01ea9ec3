// Live cross-check of our parachain-inherent codecs against polkadot-js.
//
// Reads JSON lines on stdin, writes JSON lines on stdout (one answer per input line, in order; `random`
// answers with `count` lines). Exit 0 at EOF. A bad line gets {"ok":false,"error":"..."}.
//
//   {"op":"decode","type":"header","hex":"0x..","descriptor":"v2"}
//        -> {"ok":true,"decoded":<value>,"reencoded":"0x.."}
//   {"op":"random","type":"backed-candidate","count":3,"seed":7}
//        -> 3 x {"ok":true,"type":"backed-candidate","hex":"0x..","decoded":<value>}
//   {"op":"types"} -> {"ok":true,"types":{<our name>: {lookup, id, path}}}
//
// Types come from the registry of the Polkadot runtime metadata shipped in @polkadot/types-support
// (metadata/v15/polkadot-hex). `decoded` follows the convention of shared/interop/README.md:
// struct -> Rust snake_case fields in order; enum -> {variant, index, value|null}; BitVec ->
// {bit_length, bytes, bits}; [u8;N] / Vec<u8> -> 0x-hex; integers -> numbers; Option -> null|value;
// tuples -> arrays.
//
// "descriptor" (optional) selects how a candidate descriptor is printed:
//   "v2"   (default) the metadata's CandidateDescriptorV2 layout for every descriptor, v1 ones included
//          (this is what the vstaging vectors do: generated/*.json and real/polkadot-28490503)
//   "v1"   the pre-V2 layout {para_id, relay_parent, collator, ..., signature, ...} for every descriptor
//          (what the vectors decoded with older metadata do)
//   "auto" per descriptor: v1 layout if reserved1 or reserved2 is non-zero, else v2 layout
//
// polkadot-js decoding is lenient: an Option tag other than 0 reads as Some, BitVec padding bits are kept,
// and a short input is zero-filled. This tool rejects inputs that are not consumed exactly and enum indices
// with no variant; anything else non-canonical shows up as `reencoded` != input, so compare the two.
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { Metadata, TypeRegistry } from '@polkadot/types';
import {
  AbstractInt, BitVec, Bytes, bool, Compact, Enum, Null, Option, Struct, Tuple, U8aFixed, Vec, VecFixed
} from '@polkadot/types-codec';
import { compactFromU8a, compactToU8a, hexToU8a, isHex, u8aConcat, u8aToHex } from '@polkadot/util';
import polkadotMetadataHex from '@polkadot/types-support/metadata/v15/polkadot-hex';

const METADATA_SOURCE = '@polkadot/types-support/metadata/v15/polkadot-hex';

// ------------------------------------------------------------------------------------------------
// registry
// ------------------------------------------------------------------------------------------------

/** The shipped hex is an Option<OpaqueMetadata> (0x01 ++ compact(len) ++ "meta"...); unwrap it. */
function metadataBytes (hex) {
  let u = hexToU8a(hex);
  const isMagic = (b) => b[0] === 0x6d && b[1] === 0x65 && b[2] === 0x74 && b[3] === 0x61;
  if (!isMagic(u) && u[0] === 1) u = u.subarray(1);
  if (!isMagic(u)) u = u.subarray(compactFromU8a(u)[0]);
  if (!isMagic(u)) throw new Error('metadata: "meta" magic not found');
  return u;
}

export const registry = new TypeRegistry();
export const metadata = new Metadata(registry, metadataBytes(polkadotMetadataHex));
registry.setMetadata(metadata);

// The pre-V2 descriptor (polkadot_primitives::v1..v8::CandidateDescriptor) is no longer in this metadata;
// it has the same size as CandidateDescriptorV2 (292 bytes), so any V2 descriptor re-reads as one.
const V1_DESCRIPTOR = 'CrosscheckCandidateDescriptorV1';
registry.register({
  [V1_DESCRIPTOR]: {
    paraId: 'u32',
    relayParent: 'H256',
    collator: '[u8;32]',
    persistedValidationDataHash: 'H256',
    povHash: 'H256',
    erasureRoot: 'H256',
    signature: '[u8;64]',
    paraHead: 'H256',
    validationCodeHash: 'H256'
  }
});

// our name -> accepted Rust type names (last path segment), best first
const WANTED = {
  'inherent-data': ['InherentData', 'ParaInherentData'],
  'signed-bitfield': ['UncheckedSigned'],
  'backed-candidate': ['BackedCandidate'],
  'candidate-receipt': ['CandidateReceiptV2', 'CandidateReceipt'],
  'committed-candidate-receipt': ['CommittedCandidateReceiptV2', 'CommittedCandidateReceipt'],
  'candidate-commitments': ['CandidateCommitments'],
  'dispute-statement-set': ['DisputeStatementSet'],
  header: ['Header']
};

const pathOf = (id) => registry.lookup.getSiType(id).path.map(String);

/** vstaging beats any numbered module, a higher vN beats a lower one. */
function moduleRank (p) {
  for (const seg of p) {
    if (seg === 'vstaging') return 1e6;
    const m = /^v(\d+)$/.exec(seg);
    if (m) return Number(m[1]);
  }
  return 0;
}

function acceptable (ours, p, id) {
  if (ours === 'header') return p.join('::') === 'sp_runtime::generic::header::Header';
  if (p[0] !== 'polkadot_primitives') return false;
  if (ours === 'signed-bitfield') {
    // UncheckedSigned<Payload = AvailabilityBitfield, ...>
    const payload = registry.lookup.getSiType(id).params.find((x) => x.name.toString() === 'Payload');
    return !!payload && payload.type.isSome && pathOf(payload.type.unwrap()).at(-1) === 'AvailabilityBitfield';
  }
  return true;
}

function chooseTypes () {
  const out = {};
  for (const [ours, names] of Object.entries(WANTED)) {
    let best = null;
    for (const t of registry.lookup.types) {
      const id = t.id.toNumber();
      const p = t.type.path.map(String);
      const nameRank = names.indexOf(p.at(-1));
      if (nameRank < 0 || !acceptable(ours, p, id)) continue;
      const score = [-nameRank, moduleRank(p), -id];
      if (!best || score[0] > best.score[0] || (score[0] === best.score[0] && (score[1] > best.score[1] || (score[1] === best.score[1] && score[2] > best.score[2])))) {
        best = { score, id, path: p.join('::') };
      }
    }
    if (!best) throw new Error(`no lookup type in the metadata for ${ours}`);
    const lookup = registry.lookup.getTypeDef(best.id).lookupName || registry.createLookupType(best.id);
    out[ours] = { lookup, id: best.id, path: best.path };
  }
  return out;
}

export const TYPES = chooseTypes();

// ------------------------------------------------------------------------------------------------
// codec -> `decoded` JSON
// ------------------------------------------------------------------------------------------------

const snake = (k) => k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
const isZero = (u8a) => u8a.every((b) => b === 0);

/** Number of bits of a polkadot-js BitVec (its decoded length is private: read the compact prefix). */
export const bitLength = (bv) => compactFromU8a(bv.toU8a())[1].toNumber();

function bitvecJson (bv) {
  const n = bitLength(bv);
  // toBoolArray() honours the bit order; registry BitVecs are created Lsb0 (bit i = byte i/8, 1 << i%8)
  const bits = bv.toBoolArray().slice(0, n).map((b) => (b ? '1' : '0')).join('');
  return { bit_length: n, bytes: u8aToHex(bv.toU8a(true)), bits };
}

const isDescriptorV2 = (s) => s.has('reserved1') && s.has('reserved2') && s.has('coreIndex') && s.has('sessionIndex');

function descriptorIsV1 (s) {
  return !isZero(s.get('reserved1').toU8a(true)) || !isZero(s.get('reserved2').toU8a(true));
}

export function toDecoded (c, mode = 'v2') {
  if (c instanceof BitVec) return bitvecJson(c);
  if (c instanceof Option) return c.isSome ? toDecoded(c.unwrap(), mode) : null;
  if (c instanceof Compact) return toDecoded(c.unwrap(), mode);
  if (c instanceof AbstractInt) {
    const v = c.toBigInt();
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if (c instanceof bool) return c.isTrue;
  if (c instanceof Null) return null;
  if (c instanceof Enum) {
    // polkadot-js fills the holes of sparse enums (DigestItem 1-3/7, ValidityAttestation 0) with __UnusedN
    // variants and happily decodes them; Rust rejects such an index, so do we
    if (c.type.startsWith('__Unused')) throw new Error(`invalid enum index ${c.index} (no such variant)`);
    return { variant: c.type, index: c.index, value: c.value instanceof Null ? null : toDecoded(c.value, mode) };
  }
  if (c instanceof Struct) {
    if (isDescriptorV2(c) && (mode === 'v1' || (mode === 'auto' && descriptorIsV1(c)))) {
      c = registry.createType(V1_DESCRIPTOR, c.toU8a());
    }
    const o = {};
    for (const [k, v] of c.entries()) o[snake(k)] = toDecoded(v, mode);
    return o;
  }
  if (c instanceof Tuple) return c.map((x) => toDecoded(x, mode));
  if (c instanceof U8aFixed || c instanceof Bytes) return c.toHex();
  if (c instanceof Vec || c instanceof VecFixed) return c.map((x) => toDecoded(x, mode));
  throw new Error(`no JSON conversion for ${c.toRawType()}`);
}

// ------------------------------------------------------------------------------------------------
// decode
// ------------------------------------------------------------------------------------------------

export function lookupOf (type) {
  if (TYPES[type]) return TYPES[type].lookup;
  throw new Error(`unknown type ${JSON.stringify(type)} (known: ${Object.keys(TYPES).join(', ')})`);
}

const MODES = ['v2', 'v1', 'auto'];
function checkMode (mode) {
  if (mode === undefined || mode === null) return 'v2';
  if (!MODES.includes(mode)) throw new Error(`descriptor must be one of ${MODES.join(', ')}`);
  return mode;
}

/** Decode `hex` as registry type `lookup`; the whole input must be consumed. */
export function decodeAs (lookup, hex, mode = 'v2') {
  if (typeof hex !== 'string' || !isHex(hex)) throw new Error('hex must be a 0x-prefixed hex string');
  const u8a = hexToU8a(hex);
  const c = registry.createType(lookup, u8a);
  if (c.encodedLength !== u8a.length) {
    throw new Error(`decoding used ${c.encodedLength} of ${u8a.length} input bytes`);
  }
  return { decoded: toDecoded(c, mode), reencoded: c.toHex() };
}

// ------------------------------------------------------------------------------------------------
// random values (polkadot-js input objects; encoded by polkadot-js)
// ------------------------------------------------------------------------------------------------

function seedTo32 (seed) {
  let h = 0x811c9dc5; // FNV-1a over the seed's JSON text
  for (const ch of JSON.stringify(seed ?? 0)) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

/** Deterministic generator: mulberry32 + per-enum rotating counters so every variant shows up. */
function makeGen (seed) {
  let s = seedTo32(seed);
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0);
  };
  const int = (lo, hi) => lo + (next() % (hi - lo + 1)); // inclusive
  const counters = {};
  return {
    int,
    u32: () => next(),
    u16: () => next() & 0xffff,
    bytes: (n) => Uint8Array.from({ length: n }, () => next() & 0xff),
    len: () => int(0, 5),
    /** the next of n choices for `name`, cycling from a seed-dependent start */
    cycle: (name, n) => {
      if (!(name in counters)) counters[name] = next();
      return counters[name]++ % n;
    }
  };
}

function randomValues (g) {
  const hex = (n) => u8aToHex(g.bytes(n));
  const blob = (max) => hex(g.int(0, max));
  const hash = () => hex(32);
  const sig = () => hex(64);

  /** BitVec<u8, Lsb0> as polkadot-js wants it for an exact bit count: compact(bits) ++ bytes (padding zero). */
  const bitvec = (bits) => {
    const bytes = new Uint8Array(Math.ceil(bits.length / 8));
    bits.forEach((b, i) => { if (b) bytes[i >> 3] |= 1 << (i & 7); });
    return u8aConcat(compactToU8a(bits.length), bytes);
  };
  const randomBits = (n) => Array.from({ length: n }, () => g.int(0, 1));

  const COMPACT_RANGES = [[0, 63], [64, 16383], [16384, 2 ** 30 - 1], [2 ** 30, 2 ** 32 - 1]];
  const ENGINES = ['BABE', 'BEEF', 'aura', 'FRNK', 'pow_'].map((s) => u8aToHex(new TextEncoder().encode(s)));
  const DIGESTS = ['PreRuntime', 'Consensus', 'Seal', 'Other', 'RuntimeEnvironmentUpdated'];
  const digestItem = () => {
    const kind = DIGESTS[g.cycle('digest', DIGESTS.length)];
    if (kind === 'RuntimeEnvironmentUpdated') return { [kind]: null };
    if (kind === 'Other') return { Other: blob(12) };
    return { [kind]: [g.int(0, 3) ? ENGINES[g.int(0, ENGINES.length - 1)] : hex(4), blob(70)] };
  };
  const header = () => {
    const [lo, hi] = COMPACT_RANGES[g.cycle('compact', COMPACT_RANGES.length)];
    return {
      parentHash: hash(),
      number: lo + Math.floor((g.u32() / 2 ** 32) * (hi - lo + 1)),
      stateRoot: hash(),
      extrinsicsRoot: hash(),
      digest: { logs: Array.from({ length: g.len() }, digestItem) }
    };
  };

  const signedBitfield = () => ({ payload: bitvec(randomBits(g.int(0, 45))), validatorIndex: g.u32(), signature: sig() });

  const commitments = () => ({
    upwardMessages: Array.from({ length: g.len() }, () => blob(10)),
    horizontalMessages: Array.from({ length: g.len() }, () => ({ recipient: g.u32(), data: blob(10) })),
    newValidationCode: g.cycle('option', 2) ? blob(20) : null,
    headData: blob(40),
    processedDownwardMessages: g.u32(),
    hrmpWatermark: g.u32()
  });

  const descriptor = () => {
    const common = {
      paraId: g.u32(), relayParent: hash(), persistedValidationDataHash: hash(), povHash: hash(), erasureRoot: hash(),
      paraHead: hash(), validationCodeHash: hash()
    };
    if (g.cycle('descriptor', 2)) {
      // v1: collator public key and collator signature fill the bytes V2 calls version..reserved1 / reserved2
      return registry.createType(V1_DESCRIPTOR, { ...common, collator: hash(), signature: sig() }).toU8a();
    }
    return { ...common, version: 0, coreIndex: g.u16(), sessionIndex: g.u32(), reserved1: u8aToHex(new Uint8Array(25)), reserved2: u8aToHex(new Uint8Array(64)) };
  };

  const backed = () => {
    const group = randomBits(g.len()); // one validity vote per set bit, in bit order
    const votes = group.filter((b) => b).map(() => ({ [g.cycle('attestation', 2) ? 'Explicit' : 'Implicit']: sig() }));
    const core = g.cycle('inject', 2) ? randomBits(8) : []; // ElasticScalingMVP: 8 bits of core index appended
    return {
      candidate: { descriptor: descriptor(), commitments: commitments() },
      validityVotes: votes,
      validatorIndices: bitvec([...group, ...core])
    };
  };

  const STATEMENTS = [
    () => ({ Valid: 'Explicit' }),
    () => ({ Valid: { BackingSeconded: hash() } }),
    () => ({ Valid: { BackingValid: hash() } }),
    () => ({ Valid: 'ApprovalChecking' }),
    () => ({ Valid: { ApprovalCheckingMultipleCandidates: Array.from({ length: g.len() }, hash) } }),
    () => ({ Invalid: 'Explicit' })
  ];
  const disputeSet = () => ({
    candidateHash: hash(),
    session: g.u32(),
    statements: Array.from({ length: g.len() }, () => [STATEMENTS[g.cycle('statement', STATEMENTS.length)](), g.u32(), sig()])
  });

  return {
    'inherent-data': () => ({
      bitfields: Array.from({ length: g.len() }, signedBitfield),
      backedCandidates: Array.from({ length: g.len() }, backed),
      disputes: Array.from({ length: g.len() }, disputeSet),
      parentHeader: header()
    }),
    'signed-bitfield': signedBitfield,
    'backed-candidate': backed,
    'candidate-receipt': () => ({ descriptor: descriptor(), commitmentsHash: hash() }),
    'committed-candidate-receipt': () => ({ descriptor: descriptor(), commitments: commitments() }),
    'candidate-commitments': commitments,
    'dispute-statement-set': disputeSet,
    header
  };
}

export function * randomItems (type, count, seed, mode = 'v2') {
  const lookup = lookupOf(type);
  if (!Number.isInteger(count) || count < 0 || count > 1e6) throw new Error('count must be an integer in 0..1000000');
  const make = randomValues(makeGen(seed))[type];
  for (let i = 0; i < count; i++) {
    const built = registry.createType(lookup, make());
    const hex = built.toHex();
    const { decoded, reencoded } = decodeAs(lookup, hex, mode); // decoded from the bytes, as the Go side will be
    if (reencoded !== hex) throw new Error(`polkadot-js round trip differs for ${type} #${i}`);
    yield { ok: true, type, hex, decoded };
  }
}

// ------------------------------------------------------------------------------------------------
// protocol
// ------------------------------------------------------------------------------------------------

export function handle (line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return [{ ok: false, error: `bad JSON: ${e.message}` }];
  }
  try {
    if (!req || typeof req !== 'object') throw new Error('request must be a JSON object');
    const mode = checkMode(req.descriptor);
    switch (req.op) {
      case 'decode': return [{ ok: true, ...decodeAs(lookupOf(req.type), req.hex, mode) }];
      case 'random': return [...randomItems(req.type, req.count ?? 1, req.seed ?? 0, mode)];
      case 'types': return [{ ok: true, metadata: METADATA_SOURCE, types: TYPES }];
      default: throw new Error(`unknown op ${JSON.stringify(req.op)} (decode, random, types)`);
    }
  } catch (e) {
    return [{ ok: false, error: String(e?.message ?? e) }];
  }
}

const stringify = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x));

export function describeTypes () {
  return Object.entries(TYPES).map(([k, t]) => `  ${k.padEnd(28)} ${t.lookup} (#${t.id} ${t.path})`).join('\n');
}

async function main () {
  process.stderr.write(`crosscheck: polkadot-js registry from ${METADATA_SOURCE} (metadata v${metadata.version})\n${describeTypes()}\n`);
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  for await (const line of rl) {
    for (const out of handle(line)) process.stdout.write(stringify(out) + '\n');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e) => { process.stderr.write(`crosscheck: ${e.stack || e}\n`); process.exit(1); });
}
