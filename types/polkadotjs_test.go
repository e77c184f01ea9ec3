package types

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/polkadot-provisioner/provisioner/codec"
)

// The live cross-check against polkadot-js: one `node crosscheck.mjs`
// process (types/testdata/polkadotjs, JSON lines over stdin/stdout) and, for
// every wire type, values made by polkadot-js decoded here and values made
// here decoded by polkadot-js, with identical bytes and identical `decoded`
// JSON both ways.
//
// It needs node and `npm ci` in that directory. Without them it skips,
// unless POLKADOTJS_REQUIRED=1 (as CI sets after npm ci), when it fails.
// POLKADOTJS_COUNT (values per type and direction, default 150) and
// POLKADOTJS_SEED (default fixed) widen a local soak run.
//
// Descriptors: crosscheck.mjs prints them in the metadata's v2 layout by
// default, which is why sameJSON normalises with v1Layout. Here every
// request asks for "descriptor":"auto" instead, which prints each descriptor
// in the layout of its detected version by the same RFC-103 rule as our
// MarshalJSON, so the two JSON texts can be compared byte for byte: that
// checks field order and the version detection too, not just the values.

const polkadotJSDir = "testdata/polkadotjs"

// crossValue is what the cross-check needs of a wire type.
type crossValue interface {
	Encoder
	Decoder
}

// crossType is one type known to both sides: its crosscheck.mjs name, a
// fresh value to decode into, and its random generator (random_test.go).
type crossType struct {
	name   string
	new    func() crossValue
	random func(r *rand.Rand) crossValue
}

func crossCheckTypes() []crossType {
	return []crossType{
		{"inherent-data", func() crossValue { return new(InherentData) },
			func(r *rand.Rand) crossValue { v := randomInherentData(r); return &v }},
		{"signed-bitfield", func() crossValue { return new(UncheckedSignedAvailabilityBitfield) },
			func(r *rand.Rand) crossValue { v := randomSignedBitfield(r); return &v }},
		{"backed-candidate", func() crossValue { return new(BackedCandidate) },
			func(r *rand.Rand) crossValue { v := randomBackedCandidate(r); return &v }},
		{"candidate-receipt", func() crossValue { return new(CandidateReceipt) },
			func(r *rand.Rand) crossValue { v := randomCandidateReceipt(r); return &v }},
		{"committed-candidate-receipt", func() crossValue { return new(CommittedCandidateReceipt) },
			func(r *rand.Rand) crossValue { v := randomCommittedCandidateReceipt(r); return &v }},
		{"candidate-commitments", func() crossValue { return new(CandidateCommitments) },
			func(r *rand.Rand) crossValue { v := randomCandidateCommitments(r); return &v }},
		{"dispute-statement-set", func() crossValue { return new(DisputeStatementSet) },
			func(r *rand.Rand) crossValue { v := randomDisputeStatementSet(r); return &v }},
		{"header", func() crossValue { return new(Header) },
			func(r *rand.Rand) crossValue { v := randomHeader(r); return &v }},
	}
}

// polkadotJS is the running crosscheck.mjs.
type polkadotJS struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *tailBuffer
	dead   error // set once the stream is unusable
}

// tailBuffer keeps the last few KiB of node's stderr for failure messages.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = t.b[len(t.b)-8192:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// startPolkadotJS starts crosscheck.mjs, or skips (fails when
// POLKADOTJS_REQUIRED=1) when node or the npm packages are missing.
func startPolkadotJS(t *testing.T) *polkadotJS {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("POLKADOTJS_REQUIRED") == "1" {
			t.Fatalf("polkadot-js cross-check required (POLKADOTJS_REQUIRED=1) but unavailable: %s", msg)
		}
		t.Skipf("polkadot-js cross-check skipped: %s (set POLKADOTJS_REQUIRED=1 to make this an error)", msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not on PATH")
	}
	for _, pkg := range []string{"@polkadot/types", "@polkadot/types-codec", "@polkadot/types-support", "@polkadot/util"} {
		if _, err := os.Stat(filepath.Join(polkadotJSDir, "node_modules", pkg, "package.json")); err != nil {
			unavailable("%s is not installed (run `npm ci` in types/%s)", pkg, polkadotJSDir)
		}
	}

	p := &polkadotJS{stderr: &tailBuffer{}}
	p.cmd = exec.Command(node, "crosscheck.mjs")
	p.cmd.Dir = polkadotJSDir
	p.cmd.Stderr = p.stderr
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start node crosscheck.mjs: %v", err)
	}
	t.Cleanup(func() {
		// EOF on stdin ends the tool; kill it if it does not go quietly.
		p.in.Close()
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil && p.dead == nil {
				t.Errorf("crosscheck.mjs exited with %v; stderr:\n%s", err, p.stderr)
			}
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	})
	return p
}

// reply is one answer line. Decoded stays raw: it is compared as text.
type reply struct {
	OK        bool            `json:"ok"`
	Error     string          `json:"error"`
	Type      string          `json:"type"`
	Hex       string          `json:"hex"`
	Decoded   json.RawMessage `json:"decoded"`
	Reencoded string          `json:"reencoded"`
}

// exchange writes the request lines (from a goroutine, so that a large
// batch cannot deadlock against node's output) and reads answers until
// `want` replies arrived or a request failed (a failed request answers one
// ok:false line however many it would have given). A watchdog kills node
// if it stops answering.
func (p *polkadotJS) exchange(t *testing.T, reqs []any, want int) []reply {
	t.Helper()
	if p.dead != nil {
		t.Fatalf("polkadot-js process unusable: %v", p.dead)
	}
	werr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriter(p.in)
		for _, r := range reqs {
			b, err := json.Marshal(r)
			if err != nil {
				werr <- err
				return
			}
			bw.Write(b)
			bw.WriteByte('\n')
		}
		werr <- bw.Flush()
	}()
	watchdog := time.AfterFunc(2*time.Minute, func() { p.cmd.Process.Kill() })
	defer watchdog.Stop()

	var out []reply
	for len(out) < want {
		line, err := p.out.ReadBytes('\n')
		if err != nil {
			p.dead = fmt.Errorf("reading answer %d of %d: %w", len(out)+1, want, err)
			t.Fatalf("polkadot-js: %v; stderr:\n%s", p.dead, p.stderr)
		}
		var r reply
		if err := json.Unmarshal(line, &r); err != nil {
			p.dead = fmt.Errorf("answer is not JSON: %w: %.200s", err, line)
			t.Fatal(p.dead)
		}
		out = append(out, r)
		if !r.OK {
			break
		}
	}
	if err := <-werr; err != nil {
		p.dead = err
		t.Fatalf("writing requests to polkadot-js: %v", err)
	}
	return out
}

// ourJSON is our `decoded` JSON of v, compact.
func ourJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// jsonDiff shows where two JSON texts first differ.
func jsonDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-150)
	return fmt.Sprintf("first difference at character %d\n ours: …%.300s\n  pjs: …%.300s", i, got[from:], want[from:])
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

// errorBudget keeps one broken type from flooding the log; it never stops
// reading answers, so the JSON-lines stream stays in step.
type errorBudget struct {
	t    *testing.T
	left int
}

func (e *errorBudget) errorf(format string, args ...any) {
	e.t.Helper()
	if e.left > 0 {
		e.t.Errorf(format, args...)
	} else if e.left == 0 {
		e.t.Errorf("(further mismatches of this type not shown)")
	}
	e.left--
}

func TestPolkadotJSCrossCheck(t *testing.T) {
	pjs := startPolkadotJS(t)
	count := envInt(t, "POLKADOTJS_COUNT", 150)
	seed := uint64(envInt(t, "POLKADOTJS_SEED", 20250101))
	start := time.Now()
	total := 0

	for ti, ct := range crossCheckTypes() {
		// (a) polkadot-js encodes, we decode.
		t.Run(ct.name+"/from-polkadotjs", func(t *testing.T) {
			req := map[string]any{"op": "random", "type": ct.name, "count": count, "seed": seed + uint64(ti), "descriptor": "auto"}
			replies := pjs.exchange(t, []any{req}, count)
			if n := len(replies); n != count || !replies[n-1].OK {
				t.Fatalf("random %s: %d values, last answer %+v", ct.name, n, replies[n-1])
			}
			bad := &errorBudget{t: t, left: 5}
			for i, r := range replies {
				raw, err := hex.DecodeString(strings.TrimPrefix(r.Hex, "0x"))
				if err != nil || r.Type != ct.name {
					bad.errorf("#%d: bad answer type %q hex %.40q: %v", i, r.Type, r.Hex, err)
					continue
				}
				v := ct.new()
				if err := Decode(raw, v); err != nil {
					bad.errorf("#%d: polkadot-js encoding rejected: %v\nhex: %s", i, err, r.Hex)
					continue
				}
				if re := Encode(v); !bytes.Equal(re, raw) {
					bad.errorf("#%d: re-encoding differs\n pjs: %s\nours: 0x%x", i, r.Hex, re)
					continue
				}
				ours, err := ourJSON(v)
				if err != nil {
					bad.errorf("#%d: marshal: %v", i, err)
					continue
				}
				if theirs := string(r.Decoded); ours != theirs {
					bad.errorf("#%d: JSON differs from polkadot-js `decoded`: %s\nhex: %s", i, jsonDiff(ours, theirs), r.Hex)
				}
			}
			total += len(replies)
		})

		// (b) we encode, polkadot-js decodes.
		t.Run(ct.name+"/to-polkadotjs", func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, uint64(ti)))
			values := make([]crossValue, count)
			hexes := make([]string, count)
			reqs := make([]any, count)
			for i := range values {
				values[i] = ct.random(r)
				hexes[i] = "0x" + hex.EncodeToString(Encode(values[i]))
				reqs[i] = map[string]any{"op": "decode", "type": ct.name, "hex": hexes[i], "descriptor": "auto"}
			}
			replies := pjs.exchange(t, reqs, count)
			if len(replies) != count {
				// A decode request answers one line even on error, so a
				// short read means the failure ended the batch early.
				last := replies[len(replies)-1]
				t.Fatalf("value #%d: polkadot-js rejected our encoding: %s\nhex: %s", len(replies)-1, last.Error, hexes[len(replies)-1])
			}
			bad := &errorBudget{t: t, left: 5}
			for i, rep := range replies {
				if !rep.OK {
					bad.errorf("#%d: polkadot-js rejected our encoding: %s\nhex: %s", i, rep.Error, hexes[i])
					continue
				}
				if rep.Reencoded != hexes[i] {
					bad.errorf("#%d: polkadot-js re-encodes differently\nours: %s\n pjs: %s", i, hexes[i], rep.Reencoded)
					continue
				}
				ours, err := ourJSON(values[i])
				if err != nil {
					bad.errorf("#%d: marshal: %v", i, err)
					continue
				}
				if theirs := string(rep.Decoded); ours != theirs {
					bad.errorf("#%d: polkadot-js `decoded` differs from our JSON: %s\nhex: %s", i, jsonDiff(ours, theirs), hexes[i])
				}
			}
			if count >= 100 {
				checkCoverage(t, ct.name, values)
			}
			total += len(replies)
		})
	}
	t.Logf("cross-checked %d values with polkadot-js in %v", total, time.Since(start).Round(time.Millisecond))
}

// coverage counts the features of generated values that the cross-check
// must exercise, so a change of seed or generator cannot quietly drop one.
type coverage map[string]int

func (c coverage) bitvec(v BitVec) {
	switch {
	case v.Len == 0:
		c["bitvec empty"]++
	case v.Len%8 != 0:
		c["bitvec odd length"]++
	default:
		c["bitvec whole bytes"]++
	}
	if v.Len >= 64 {
		c["bitvec two-byte length"]++
	}
}

func (c coverage) descriptor(d *CandidateDescriptor) {
	c["descriptor "+d.Version().String()]++
}

func (c coverage) commitments(cc *CandidateCommitments) {
	if cc.NewValidationCode == nil {
		c["code None"]++
	} else {
		c["code Some"]++
	}
	if _, sig := cc.UMPSignals(); len(sig) > 0 {
		c["ump signals"]++
	}
	if len(cc.UpwardMessages) == 0 {
		c["ump empty"]++
	}
	if len(cc.HorizontalMessages) == 0 {
		c["hrmp empty"]++
	} else {
		c["hrmp non-empty"]++
	}
}

func (c coverage) backed(b *BackedCandidate) {
	c.descriptor(&b.Candidate.Descriptor)
	c.commitments(&b.Candidate.Commitments)
	c.bitvec(b.ValidatorIndices)
	for _, v := range b.ValidityVotes {
		c[fmt.Sprintf("attestation %d", v.Kind)]++
	}
	// There is one vote per set group bit, so more set bits than votes
	// means an injected core index (a non-zero one).
	if b.ValidatorIndices.CountOnes() != len(b.ValidityVotes) {
		c["core injected"]++
	}
	if len(b.ValidityVotes) == 0 {
		c["votes empty"]++
	}
}

func (c coverage) dispute(s *DisputeStatementSet) {
	if len(s.Statements) == 0 {
		c["statements empty"]++
	}
	for _, st := range s.Statements {
		c[fmt.Sprintf("statement valid=%v kind=%d", st.Statement.Valid, st.Statement.Kind)]++
	}
}

func (c coverage) header(h *Header) {
	c[fmt.Sprintf("number compact %d bytes", codec.CompactSize(uint64(h.Number)))]++
	if len(h.Digest) == 0 {
		c["digest empty"]++
	}
	for _, d := range h.Digest {
		c["digest "+d.Kind.String()]++
	}
}

func checkCoverage(t *testing.T, typ string, values []crossValue) {
	t.Helper()
	c := coverage{}
	var want []string
	for _, v := range values {
		switch x := v.(type) {
		case *UncheckedSignedAvailabilityBitfield:
			c.bitvec(x.Payload)
		case *CandidateReceipt:
			c.descriptor(&x.Descriptor)
		case *CommittedCandidateReceipt:
			c.descriptor(&x.Descriptor)
			c.commitments(&x.Commitments)
		case *CandidateCommitments:
			c.commitments(x)
		case *BackedCandidate:
			c.backed(x)
		case *DisputeStatementSet:
			c.dispute(x)
		case *Header:
			c.header(x)
		case *InherentData:
			for i := range x.Bitfields {
				c.bitvec(x.Bitfields[i].Payload)
			}
			for i := range x.BackedCandidates {
				c.backed(&x.BackedCandidates[i])
			}
			for i := range x.Disputes {
				c.dispute(&x.Disputes[i])
			}
			c.header(&x.ParentHeader)
			for name, n := range map[string]int{"bitfields": len(x.Bitfields), "backed": len(x.BackedCandidates), "disputes": len(x.Disputes)} {
				if n == 0 {
					c[name+" empty"]++
				} else {
					c[name+" non-empty"]++
				}
			}
		}
	}
	bitvec := []string{"bitvec empty", "bitvec odd length", "bitvec whole bytes", "bitvec two-byte length"}
	descriptor := []string{"descriptor v1", "descriptor v2", "descriptor unknown"}
	commitments := []string{"code None", "code Some", "ump signals", "ump empty", "hrmp empty", "hrmp non-empty"}
	backed := append(append(append([]string{"attestation 1", "attestation 2", "core injected", "votes empty"}, descriptor...), commitments...), "bitvec empty", "bitvec odd length")
	dispute := []string{"statements empty", "statement valid=true kind=0", "statement valid=true kind=1", "statement valid=true kind=2",
		"statement valid=true kind=3", "statement valid=true kind=4", "statement valid=false kind=0"}
	header := []string{"number compact 1 bytes", "number compact 2 bytes", "number compact 4 bytes", "number compact 5 bytes", "digest empty",
		"digest Other", "digest Consensus", "digest Seal", "digest PreRuntime", "digest RuntimeEnvironmentUpdated"}
	switch typ {
	case "signed-bitfield":
		want = bitvec
	case "candidate-receipt":
		want = descriptor
	case "committed-candidate-receipt":
		want = append(descriptor, commitments...)
	case "candidate-commitments":
		want = commitments
	case "backed-candidate":
		want = backed
	case "dispute-statement-set":
		want = dispute
	case "header":
		want = header
	case "inherent-data":
		want = append(append(append([]string{"bitfields empty", "bitfields non-empty", "backed empty", "backed non-empty",
			"disputes empty", "disputes non-empty", "bitvec odd length"}, backed...), dispute[1:]...), header...)
	}
	var missing []string
	for _, w := range want {
		if c[w] == 0 {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: %d generated values never exercise: %s", typ, len(values), strings.Join(missing, "; "))
	}
}
