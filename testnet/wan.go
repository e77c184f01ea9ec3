package testnet

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// WAN emulation (--latency, --bandwidth): an --in-process testnet runs on
// go-libp2p's mocknet instead of loopback sockets. Every node, the
// observer and every block builder get a mocknet host (the real libp2p
// host, identify and pubsub over simulated links), and every pair of them
// that would talk is linked with a one-way latency drawn from the seed and
// a bandwidth cap. The draws depend on the seed and the two hosts' names
// ("observer", "node-3"), not on peer ids, so a seed gives the same
// network every run.

// Latency is the range of one-way link latencies: each pair of hosts gets
// one value in [Min, Max]. The zero value is no added latency.
type Latency struct{ Min, Max time.Duration }

func (l Latency) String() string {
	if l.Min == l.Max {
		return l.Min.String()
	}
	return l.Min.String() + "-" + l.Max.String()
}

// maxLatency bounds --latency: a one-way latency of a minute is a typo,
// and the draw's arithmetic stays far from overflowing.
const maxLatency = time.Minute

// ParseLatency reads --latency: MIN-MAX (50ms-150ms) or one duration for
// every link (80ms). Errors match ErrUsage and are one line.
func ParseLatency(s string) (Latency, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	// '-' is the separator, so a negative bound ("-5ms", "5ms--1ms")
	// reads as an empty or negative one and is refused with the form.
	least, err1 := time.ParseDuration(strings.TrimSpace(lo))
	most, err2 := time.ParseDuration(strings.TrimSpace(hi))
	switch {
	case err1 != nil || err2 != nil || least < 0 || most < 0:
		return Latency{}, usagef("--latency %q: want MIN-MAX one-way link latency, such as 50ms-150ms, or one duration", s)
	case most < least:
		return Latency{}, usagef("--latency %q: minimum %v is above maximum %v", s, least, most)
	case most > maxLatency:
		return Latency{}, usagef("--latency %q: maximum %v is above %v", s, most, maxLatency)
	}
	return Latency{Min: least, Max: most}, nil
}

// bandwidthUnits are --bandwidth's units in bytes per second. Bits are
// decimal (network rates: 100Mbit is 10^8 bit/s), bytes decimal (MB) or
// binary (MiB). The unit's case matters only in that a bare lower-case
// "b"-ending unit (mb, kb) is refused as ambiguous.
var bandwidthUnits = map[string]float64{
	"bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8,
	"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

// ParseBandwidth reads --bandwidth, a link's rate: a number and a unit
// (100Mbit, 1Gbit, 10MB, 512KiB; "/s" may follow). It returns bytes per
// second. Errors match ErrUsage and are one line.
func ParseBandwidth(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, usagef("--bandwidth %q: want a rate with a unit, such as 100Mbit, 1Gbit or 10MB", s)
	}
	num, unit := t[:i], t[i:]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, usagef("--bandwidth %q: want a rate with a unit, such as 100Mbit, 1Gbit or 10MB", s)
	}
	per, ok := bandwidthUnits[unit]
	if !ok && strings.HasSuffix(strings.ToLower(unit), "bit") {
		per, ok = bandwidthUnits[strings.ToLower(unit)]
	}
	if !ok {
		return 0, usagef("--bandwidth %q: unknown unit %q (bit, kbit, Mbit, Gbit, B, kB, MB, GB, KiB, MiB, GiB)", s, unit)
	}
	bps := v * per
	// Below a kilobit a second a single gossip frame takes minutes: that is
	// a mistake, not a network.
	if bps < 1e3/8 || math.IsInf(bps, 0) {
		return 0, usagef("--bandwidth %q: must be at least 1kbit", s)
	}
	return bps, nil
}

// formatBandwidth is a rate in bits per second for the run's header.
func formatBandwidth(bps float64) string {
	bits := bps * 8
	switch {
	case bits >= 1e9:
		return strconv.FormatFloat(bits/1e9, 'g', 4, 64) + " Gbit/s"
	case bits >= 1e6:
		return strconv.FormatFloat(bits/1e6, 'g', 4, 64) + " Mbit/s"
	}
	return strconv.FormatFloat(bits/1e3, 'g', 4, 64) + " kbit/s"
}

// The roles of NodeConfig.NewHost: a node's network host and its block
// builder's client host.
const (
	RoleNode    = "node"
	RoleBuilder = "builder"
)

// wan is a run's emulated network. Its methods are safe for concurrent
// use; Close ends it once every node has stopped.
type wan struct {
	mn        mocknet.Mocknet
	latency   Latency
	bandwidth float64 // bytes per second per link; 0: unlimited
	seed      uint64

	mu     sync.Mutex
	byName map[string]peer.ID
	addrs  map[string]ma.Multiaddr
}

// newWAN returns the run's emulated network, nil when the run asks for
// none (real loopback sockets).
func newWAN(cfg Config) *wan {
	if cfg.Latency == (Latency{}) && cfg.Bandwidth == 0 {
		return nil
	}
	return &wan{mn: mocknet.New(), latency: cfg.Latency, bandwidth: cfg.Bandwidth, seed: cfg.Seed,
		byName: map[string]peer.ID{}, addrs: map[string]ma.Multiaddr{}}
}

// Close closes the mocknet (and any host still open in it).
func (w *wan) Close() error {
	if w == nil {
		return nil
	}
	return w.mn.Close()
}

// hostsFor is the NodeConfig.NewHost of the node (or observer) called
// name: its network host is name, its block builder "builder-"+suffix.
// nil without emulation: the node builds real hosts.
func (w *wan) hostsFor(name string) func(role string, key crypto.PrivKey) (host.Host, error) {
	if w == nil {
		return nil
	}
	return func(role string, key crypto.PrivKey) (host.Host, error) {
		if role == RoleBuilder {
			return w.host("builder-"+strings.TrimPrefix(name, "node-"), key)
		}
		return w.host(name, key)
	}
}

// host adds the host called name with key to the mocknet and links it to
// every host it may talk to. A name seen before (a restarted node) first
// loses the links of its previous host, whose peernet is gone.
func (w *wan) host(name string, key crypto.PrivKey) (host.Host, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("wan host %s: %w", name, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, ok := w.byName[name]; ok {
		for _, q := range w.byName {
			if q != old {
				// No link between them is not an error here.
				_ = w.mn.UnlinkPeers(old, q)
			}
		}
	}
	addr, ok := w.addrs[name]
	if !ok {
		// A distinct address per host: gossipsub's IP colocation penalty
		// would otherwise treat the whole network as one sybil. The
		// addresses are in 198.18.0.0/15, the benchmarking range that is
		// never routed; mocknet dials by peer id, not by address.
		n := len(w.addrs) + 1
		if addr, err = ma.NewMultiaddr(fmt.Sprintf("/ip4/198.%d.%d.%d/tcp/30333", 18+(n>>16), (n>>8)&0xff, n&0xff)); err != nil {
			return nil, fmt.Errorf("wan host %s: %w", name, err)
		}
		w.addrs[name] = addr
	}
	h, err := w.mn.AddPeer(key, addr)
	if err != nil {
		return nil, fmt.Errorf("wan host %s: %w", name, err)
	}
	for other, q := range w.byName {
		if other == name || !linked(name, other) {
			continue
		}
		l, err := w.mn.LinkPeers(id, q)
		if err != nil {
			_ = h.Close()
			return nil, fmt.Errorf("wan link %s-%s: %w", name, other, err)
		}
		l.SetOptions(w.linkOptions(name, other))
	}
	w.byName[name] = id
	return h, nil
}

// linked: a block builder talks to its own node only; every other pair
// may connect.
func linked(a, b string) bool {
	ba, aIsBuilder := strings.CutPrefix(a, "builder-")
	bb, bIsBuilder := strings.CutPrefix(b, "builder-")
	switch {
	case aIsBuilder && bIsBuilder:
		return false
	case aIsBuilder:
		return b == "node-"+ba
	case bIsBuilder:
		return a == "node-"+bb
	}
	return true
}

// linkOptions are the link between hosts a and b. A builder's link to its
// node is the same machine's (Polkadot's block author runs inside the
// node): no latency, no cap.
func (w *wan) linkOptions(a, b string) mocknet.LinkOptions {
	if strings.HasPrefix(a, "builder-") || strings.HasPrefix(b, "builder-") {
		return mocknet.LinkOptions{}
	}
	return mocknet.LinkOptions{Latency: w.pairLatency(a, b), Bandwidth: w.bandwidth}
}

// pairLatency draws the one-way latency of the pair {a, b} from the seed:
// uniform over [Min, Max] in microseconds, the same for (a, b) and (b, a).
func (w *wan) pairLatency(a, b string) time.Duration {
	span := w.latency.Max - w.latency.Min
	if span <= 0 {
		return w.latency.Min
	}
	if b < a {
		a, b = b, a
	}
	h := sha256.Sum256(fmt.Appendf(nil, "testnet-wan/%d/%s/%s", w.seed, a, b))
	steps := uint64(span/time.Microsecond) + 1
	return w.latency.Min + time.Duration(binary.LittleEndian.Uint64(h[:8])%steps)*time.Microsecond
}
