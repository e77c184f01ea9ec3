// Self-test of crosscheck.mjs: its `decoded` converter must reproduce, exactly (same keys, same order,
// same values), every `decoded` value in the shared interop vectors, and re-encode every vector's bytes;
// its random generator must round-trip and cover every enum variant.
//
// usage: node selftest.mjs [interop-dir]   (default: $INTEROP_DIR or ../interop, the project's copy)
import fs from 'node:fs';
import path from 'node:path';
import { decodeAs, lookupOf, randomItems, TYPES } from './crosscheck.mjs';

const DIR = process.argv[2] || process.env.INTEROP_DIR || new URL('../interop', import.meta.url).pathname;
let pass = 0;
let fail = 0;
const failures = [];
const result = (ok, what) => { if (ok) pass++; else { fail++; failures.push(what); } };

// Rust type (last path segment, or the tail of a lookup name) -> our type name
const OURS = [
  [/CommittedCandidateReceipt(V2)?$/, 'committed-candidate-receipt'],
  [/CandidateReceipt(V2)?$/, 'candidate-receipt'],
  [/BackedCandidate$/, 'backed-candidate'],
  [/CandidateCommitments$/, 'candidate-commitments'],
  [/DisputeStatementSet$/, 'dispute-statement-set'],
  [/UncheckedSigned$/, 'signed-bitfield'],
  [/InherentData$/, 'inherent-data'],
  [/(header::Header|SpRuntimeHeader)$/, 'header']
];
const oursFor = (name) => OURS.find(([re]) => re.test(name))?.[1];
// vectors made with metadata whose descriptor type is CandidateDescriptorV2 print every descriptor in the V2
// layout; those made with older metadata print the v1 layout
const modeFor = (name) => (/vstaging|Vstaging/.test(name) ? 'v2' : 'v1');

function check (what, lookup, hex, expected, mode) {
  try {
    const { decoded, reencoded } = decodeAs(lookup, hex, mode);
    result(reencoded === hex, `${what}: re-encoding differs`);
    if (expected !== undefined) result(JSON.stringify(decoded) === JSON.stringify(expected), `${what}: decoded differs (mode ${mode})`);
  } catch (e) {
    result(false, `${what}: ${e.message}`);
  }
}

const files = ['generated', 'real'].flatMap((d) => fs.readdirSync(path.join(DIR, d)).filter((f) => f.endsWith('.json')).map((f) => path.join(d, f)));
let decodedCount = 0;
for (const f of files) {
  const v = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
  const name = v.type_rust_path || v.type_name;
  if (name && v.hex && v.decoded !== undefined) {
    check(`${f} decoded`, lookupOf(oursFor(name)), v.hex, v.decoded, modeFor(name)); decodedCount++;
  }
  if (v.decoded_with_v1_descriptor_types) {
    check(`${f} decoded_with_v1_descriptor_types`, lookupOf('inherent-data'), v.hex, v.decoded_with_v1_descriptor_types, 'v1'); decodedCount++;
  }
  if (v.commitments_decoded) {
    check(`${f} commitments_decoded`, lookupOf('candidate-commitments'), v.commitments_hex, v.commitments_decoded, 'v2'); decodedCount++;
  }
  if (v.v1_decoded) {
    check(`${f} v1_decoded`, lookupOf('candidate-receipt'), v.candidate_receipt_hex, v.v1_decoded, 'v1'); decodedCount++;
  }
  if (v.committed_candidate_receipt?.decoded) {
    const c = v.committed_candidate_receipt;
    check(`${f} committed_candidate_receipt`, lookupOf('committed-candidate-receipt'), c.hex, c.decoded, modeFor(c.type_name)); decodedCount++;
  }
  for (const [i, e] of (v.enums || []).entries()) {
    check(`${f} enums[${i}] ${e.type_name}`, e.type_name, e.hex, e.decoded, 'v2'); decodedCount++;
  }
  // byte round trips of the per-candidate encodings (no `decoded` given for these)
  const rt = { candidate_receipt_hex: 'candidate-receipt', committed_candidate_receipt_hex: 'committed-candidate-receipt', backed_candidate_hex: 'backed-candidate', commitments_hex: 'candidate-commitments' };
  for (const [i, c] of [v, ...(v.candidates || [])].entries()) {
    for (const [k, t] of Object.entries(rt)) if (typeof c[k] === 'string') check(`${f} [${i}].${k} round trip`, lookupOf(t), c[k], undefined, 'v2');
  }
}
const vectorPass = pass; const vectorFail = fail;
console.log(`vectors: ${files.length} files, ${decodedCount} decoded values compared; ${vectorPass} passed, ${vectorFail} failed`);

// random generator: round trip + coverage over a run
const seen = new Set();
const walk = (x, type) => {
  if (Array.isArray(x)) return x.forEach((y) => walk(y, type));
  if (!x || typeof x !== 'object') return;
  if ('variant' in x && 'index' in x) {
    seen.add(`${x.variant}`);
    if (x.value && typeof x.value === 'object' && 'variant' in x.value) seen.add(`${x.variant}(${x.value.variant})`);
  }
  if ('bit_length' in x) {
    if (x.bit_length % 8) seen.add('bitvec%8!=0');
    const bytes = Buffer.from(x.bytes.slice(2), 'hex');
    const pad = x.bit_length % 8 ? bytes[bytes.length - 1] >> (x.bit_length % 8) : 0;
    result(pad === 0, `${type}: bitvec padding bits not zero`);
  }
  if ('reserved1' in x) seen.add(/^0x0+$/.test(x.reserved1) && /^0x0+$/.test(x.reserved2) ? 'descriptor v2' : 'descriptor v1');
  if ('new_validation_code' in x) seen.add(x.new_validation_code === null ? 'option None' : 'option Some');
  if (Array.isArray(x.validity_votes)) x.validity_votes.forEach((v) => seen.add(`attestation ${v.variant}`));
  for (const [k, y] of Object.entries(x)) {
    if (Array.isArray(y)) seen.add(`len ${k} ${y.length}`);
    walk(y, type);
  }
};
let randomCount = 0;
for (const type of Object.keys(TYPES)) {
  try {
    const a = [...randomItems(type, 40, 12345)];
    const b = [...randomItems(type, 40, 12345)];
    result(JSON.stringify(a) === JSON.stringify(b), `random ${type}: not deterministic`);
    for (const item of a) {
      randomCount++;
      check(`random ${type}`, lookupOf(type), item.hex, item.decoded, 'v2');
      walk(item.decoded, type);
    }
  } catch (e) {
    result(false, `random ${type}: ${e.message}`);
  }
}
const want = ['PreRuntime', 'Consensus', 'Seal', 'Other', 'RuntimeEnvironmentUpdated', 'attestation Implicit', 'attestation Explicit',
  'Valid(Explicit)', 'Valid(BackingSeconded)', 'Valid(BackingValid)', 'Valid(ApprovalChecking)',
  'Valid(ApprovalCheckingMultipleCandidates)', 'Invalid(Explicit)', 'descriptor v1', 'descriptor v2',
  'option None', 'option Some', 'bitvec%8!=0', ...['upward_messages', 'statements', 'backed_candidates', 'logs'].flatMap((k) => [0, 1, 2, 3, 4, 5].map((n) => `len ${k} ${n}`))];
for (const w of want) result(seen.has(w), `random coverage: ${w} never generated`);
console.log(`random: ${randomCount} values round-tripped, coverage of ${want.length} variants/cases checked; ${pass - vectorPass} passed, ${fail - vectorFail} failed`);

for (const f of failures.slice(0, 30)) console.log('  FAIL', f);
console.log(`${fail === 0 ? 'PASS' : 'FAIL'}: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
